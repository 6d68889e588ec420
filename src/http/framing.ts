// The framing rule every listener applies before anything else (metadata, probe, proxy): a request whose
// framing is in doubt is refused with 400 and its connection closed, nothing after its headers is read.
//  - more than one Host header (RFC 9112 §3.2: a server must answer 400); node:http would keep the first;
//  - a body on GET or HEAD (Transfer-Encoding, or a Content-Length other than 0): no read carries one, and a
//    body nobody asked for would hold the connection until the request timeout.

import type { IncomingMessage } from 'node:http';

const READS = new Set(['GET', 'HEAD']);

/** Host header lines of a request (rawHeaders: name, value, …), without building req.headersDistinct on every request. */
function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') n++;
  return n;
}

/** A request refused before its handler runs: the answer's status and message. */
export interface Refusal {
  status: number;
  message: string;
}

const refused = (message: string): Refusal => ({ status: 400, message });

/** The 400 for a request whose framing is refused, or undefined. */
export function framingRefusal(req: IncomingMessage): Refusal | undefined {
  if (hostLines(req.rawHeaders) > 1) return refused('more than one Host header');
  const method = req.method ?? 'GET';
  if (!READS.has(method)) return undefined;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return refused(`${method} requests carry no body: Transfer-Encoding is refused and the connection closed`);
  const cl = req.headers['content-length'];
  if (cl !== undefined && cl.trim() !== '0') {
    return refused(`${method} requests carry no body: Content-Length ${JSON.stringify(cl)} is refused and the connection closed`);
  }
  return undefined;
}
