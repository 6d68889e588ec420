// admission.k8s.io/v1 AdmissionReview in, AdmissionReview out (pure). A review that is not one we can answer is
// an HTTP error with a clear message (the API server logs it and, with failurePolicy: Ignore, admits the pod);
// an internal error fails open: allowed, no patch, reported to the caller to log and count.

import { inject as realInject, type InjectOptions, type InjectResult } from './mutate.js';

export class ReviewError extends Error {
  override name = 'ReviewError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export type Outcome =
  | { kind: 'result'; result: InjectResult }
  | { kind: 'not-create'; operation: string }
  | { kind: 'error'; error: unknown };

export interface ReviewAnswer {
  body: Record<string, unknown>;
  outcome: Outcome;
  /** for logs: which pod */
  pod: { namespace?: string; name?: string; uid: string };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export interface ReviewDeps {
  image: string;
  inject?: (pod: unknown, options: InjectOptions) => InjectResult;
}

export function answerReview(review: unknown, { image, inject = realInject }: ReviewDeps): ReviewAnswer {
  if (!isObj(review)) throw new ReviewError(400, 'expected a JSON object (an admission.k8s.io/v1 AdmissionReview)');
  if (review.kind !== 'AdmissionReview') throw new ReviewError(400, `expected kind AdmissionReview, got ${JSON.stringify(review.kind ?? null)}`);
  if (review.apiVersion !== 'admission.k8s.io/v1')
    throw new ReviewError(400, `expected apiVersion admission.k8s.io/v1, got ${JSON.stringify(review.apiVersion ?? null)} (set admissionReviewVersions: ["v1"])`);
  const request = review.request;
  if (!isObj(request)) throw new ReviewError(400, 'the AdmissionReview has no request');
  const uid = str(request.uid);
  if (!uid) throw new ReviewError(400, 'request.uid is missing');
  const kind = isObj(request.kind) ? request.kind : {};
  const resource = isObj(request.resource) ? request.resource : {};
  if (kind.group !== '' || kind.version !== 'v1' || kind.kind !== 'Pod' || (resource.resource !== undefined && resource.resource !== 'pods'))
    throw new ReviewError(400, `not a Pod: request.kind is ${JSON.stringify(request.kind ?? null)} (the webhook's rules should select only pods)`);
  const object = request.object;
  const meta = isObj(object) && isObj(object.metadata) ? object.metadata : {};
  const pod = { namespace: str(request.namespace) ?? str(meta.namespace), name: str(meta.name) ?? str(request.name) ?? str(meta.generateName), uid };
  const respond = (response: Obj, outcome: Outcome): ReviewAnswer => ({
    body: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } },
    outcome,
    pod,
  });

  const operation = str(request.operation) ?? '';
  if (operation !== 'CREATE' || request.subResource) return respond({ allowed: true }, { kind: 'not-create', operation: operation + (request.subResource ? `/${String(request.subResource)}` : '') });
  if (!isObj(object)) throw new ReviewError(400, 'request.object is missing');

  let result: InjectResult;
  try {
    result = inject(object, { image });
  } catch (error) {
    return respond({ allowed: true }, { kind: 'error', error });
  }
  const warnings = result.warnings.length ? { warnings: result.warnings } : {};
  if (result.status === 'refused')
    return respond(
      { allowed: false, status: { status: 'Failure', code: 422, reason: 'Invalid', message: `podmeta: ${result.message}` }, ...warnings },
      { kind: 'result', result },
    );
  if (result.patch.length === 0) return respond({ allowed: true, ...warnings }, { kind: 'result', result });
  return respond(
    { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(result.patch)).toString('base64'), ...warnings },
    { kind: 'result', result },
  );
}
