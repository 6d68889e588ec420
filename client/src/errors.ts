// The one error type of the client: `code` is the HTTP status, or 0 when the agent gave no answer
// (connection refused, reset, timeout, aborted); `reason` is the agent's reason (`NotFound`, …) or one of
// the client's own for code 0.

/** Reasons used when there is no HTTP answer (code 0). */
export type NoAnswerReason = 'ConnectionRefused' | 'ConnectionFailed' | 'Timeout' | 'Aborted';

export class PodmetaError extends Error {
  override readonly name = 'PodmetaError';

  constructor(
    /** HTTP status, or 0 when no answer came */
    readonly code: number,
    /** `NotFound`, `Forbidden`, … from the agent's JSON error body; or a NoAnswerReason for code 0 */
    readonly reason: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Values of the JSON error body `{code, reason, message}` (what the agent sent). */
  toJSON(): { code: number; reason: string; message: string } {
    return { code: this.code, reason: this.reason, message: this.message };
  }
}

const STATUS_REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  500: 'InternalError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

/** The error for a non-2xx answer: the agent's JSON body when it has one, else the status. */
export function errorFromResponse(status: number, body: string): PodmetaError {
  try {
    const j = JSON.parse(body) as { code?: unknown; reason?: unknown; message?: unknown };
    if (j && typeof j === 'object' && typeof j.message === 'string') {
      return new PodmetaError(status, typeof j.reason === 'string' ? j.reason : (STATUS_REASONS[status] ?? 'Error'), j.message);
    }
  } catch {
    // not JSON: not the agent, or a proxy in between
  }
  const snippet = body.length > 200 ? `${body.slice(0, 200)}…` : body;
  return new PodmetaError(status, STATUS_REASONS[status] ?? 'Error', `HTTP ${status}${snippet ? `: ${snippet}` : ''}`);
}
