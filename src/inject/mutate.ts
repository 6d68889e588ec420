// The one injection function: a pod (or pod template: `metadata` + `spec`) in, an add-only RFC 6902 JSON Patch
// against that raw object out, plus warnings and the reason for a skip. It never decodes the pod into a typed
// model and never re-encodes it: every field it does not add (including ones newer than this code) is left as
// it is. Used by `podmeta inject`, the webhook, and — as the spec it must equal — the MutatingAdmissionPolicy.

import { escapeToken } from '../jsonpatch.js';
import { AnnotationError, INJECT_LABEL, STATUS_ANNOTATION, STATUS_INJECTED, readSettings } from './annotations.js';
import { isGuaranteed } from './qos.js';
import { PODMETA_URL, SIDECAR_NAME, VOLUME_NAME, downwardVolume, sidecar } from './template.js';

export type AddOp = { op: 'add'; path: string; value: unknown };

export type SkipReason =
  | 'not-opted-in'
  | 'opted-out'
  | 'already-injected'
  | 'has-podmeta-container'
  | 'host-network'
  | 'no-containers';

export type InjectResult =
  | { status: 'injected'; patch: AddOp[]; warnings: string[] }
  | { status: 'repaired'; patch: AddOp[]; warnings: string[] }
  | { status: 'skipped'; reason: SkipReason; patch: []; warnings: string[] }
  | { status: 'refused'; annotation: string; message: string; patch: []; warnings: string[] };

export interface InjectOptions {
  image: string;
  /** inject whatever the label says, except an explicit opt-out (`podmeta inject --all`) */
  all?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const nameOf = (c: unknown): unknown => (isObj(c) ? c.name : undefined);
const ptr = (...tokens: Array<string | number>): string => tokens.map((t) => '/' + escapeToken(String(t))).join('');

function skip(reason: SkipReason, warnings: string[] = []): InjectResult {
  return { status: 'skipped', reason, patch: [], warnings };
}

/** A name not in `taken`: `base`, else `podmeta-base`, `podmeta-base-2`, … (podmeta's side is renamed, never the user's). */
function freeName(base: string, taken: ReadonlySet<unknown>): string {
  if (!taken.has(base)) return base;
  for (let i = 1; ; i++) {
    const n = i === 1 ? `podmeta-${base}` : `podmeta-${base}-${i}`;
    if (!taken.has(n)) return n;
  }
}

/** Add a key to the map at `path` (an object member of `parent`), creating the map when it is absent. */
function addToMap(ops: AddOp[], parent: Obj, parentPath: string[], field: string, key: string, value: unknown): void {
  if (isObj(parent[field])) ops.push({ op: 'add', path: ptr(...parentPath, field, key), value });
  else ops.push({ op: 'add', path: ptr(...parentPath, field), value: { [key]: value } });
}

function appendToList(ops: AddOp[], parent: Obj, path: Array<string | number>, field: string, value: unknown): void {
  if (Array.isArray(parent[field])) ops.push({ op: 'add', path: ptr(...path, field, '-'), value });
  else ops.push({ op: 'add', path: ptr(...path, field), value: [value] });
}

export function inject(pod: unknown, { image, all = false }: InjectOptions): InjectResult {
  if (!isObj(pod) || !isObj(pod.spec)) return skip('no-containers', ['podmeta: no pod spec']);
  const meta = isObj(pod.metadata) ? pod.metadata : {};
  const labels = isObj(meta.labels) ? meta.labels : {};
  const annotations = isObj(meta.annotations) ? meta.annotations : {};
  const spec = pod.spec;
  const containers = list(spec.containers);
  const initContainers = list(spec.initContainers);

  const opt = labels[INJECT_LABEL];
  if (opt === 'false') return skip('opted-out');
  if (opt !== 'true' && !all) return skip('not-opted-in');

  // idempotent: an injected pod is left alone, except a native sidecar that lost restartPolicy: Always (some
  // other mutating webhook decoded the pod with types older than native sidecars) is repaired
  const existing = initContainers.findIndex((c) => nameOf(c) === SIDECAR_NAME);
  if (annotations[STATUS_ANNOTATION] === STATUS_INJECTED) {
    const pm = initContainers[existing];
    if (isObj(pm) && pm.restartPolicy !== 'Always')
      return {
        status: 'repaired',
        patch: [{ op: 'add', path: ptr('spec', 'initContainers', existing, 'restartPolicy'), value: 'Always' }],
        warnings: ['podmeta: restored restartPolicy: Always on the podmeta init container'],
      };
    return skip('already-injected', [`podmeta: already injected (${STATUS_ANNOTATION}: ${STATUS_INJECTED}); nothing changed`]);
  }
  if (existing >= 0 || containers.some((c) => nameOf(c) === SIDECAR_NAME))
    return skip('has-podmeta-container', ['podmeta: the pod already has a container named podmeta; nothing changed']);
  if (spec.hostNetwork === true)
    return skip('host-network', ["podmeta: not injected into a hostNetwork pod (its loopback would be the node's, shared by every such pod)"]);
  const appNames = containers.map(nameOf).filter((n): n is string => typeof n === 'string' && n !== '');
  if (appNames.length === 0) return skip('no-containers', ['podmeta: the pod has no containers']);

  let settings;
  try {
    settings = readSettings(annotations, appNames);
  } catch (err) {
    if (err instanceof AnnotationError) return { status: 'refused', annotation: err.annotation, message: err.message, patch: [], warnings: [] };
    throw err;
  }
  const warnings = [...settings.warnings];
  if (settings.env.some((e) => e.name === 'PODMETA_API' && e.value === 'on') && spec.automountServiceAccountToken === false)
    warnings.push('podmeta: podmeta.io/api is "on" but automountServiceAccountToken is false: the agent will not start');

  const volumeName = freeName(VOLUME_NAME, new Set(list(spec.volumes).map(nameOf)));
  const ops: AddOp[] = [];
  // the marker
  if (isObj(pod.metadata)) addToMap(ops, pod.metadata, ['metadata'], 'annotations', STATUS_ANNOTATION, STATUS_INJECTED);
  else ops.push({ op: 'add', path: '/metadata', value: { annotations: { [STATUS_ANNOTATION]: STATUS_INJECTED } } });
  // where podmeta is, for every container of the user's (init containers too: podmeta starts before them)
  const tellUrl = (field: 'initContainers' | 'containers', items: unknown[]) =>
    items.forEach((c, i) => {
      if (!isObj(c) || list(c.env).some((e) => nameOf(e) === PODMETA_URL.name)) return;
      appendToList(ops, c, ['spec', field, i], 'env', { ...PODMETA_URL });
    });
  tellUrl('containers', containers);
  tellUrl('initContainers', initContainers); // before the insert below shifts their indices
  appendToList(ops, spec, ['spec'], 'volumes', downwardVolume(volumeName, settings.container));
  const pm = sidecar({ image, volumeName, settings: settings.env, guaranteed: isGuaranteed(spec) });
  // first, so the user's own init containers can already query it
  if (Array.isArray(spec.initContainers)) ops.push({ op: 'add', path: ptr('spec', 'initContainers', 0), value: pm });
  else ops.push({ op: 'add', path: ptr('spec', 'initContainers'), value: [pm] });
  return { status: 'injected', patch: ops, warnings };
}
