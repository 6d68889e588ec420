// Shared checks for the injection tests: apply a patch with an independent JSON Patch library, prove it only adds,
// strip podmeta's additions back off, and compare the injected sidecar with what k8s/deployment.yaml hand-writes.
import assert from 'node:assert/strict';
import jsonpatch from 'fast-json-patch';

type Obj = Record<string, any>;
export type Op = { op: string; path: string; value?: unknown };

/** Apply op by op (fast-json-patch, validating), asserting each is an `add` that creates something new: a list
 *  item, or an object member that was absent (`allowReplace` lists paths a repair may set). */
export function applyAddOnly<T>(doc: T, patch: readonly Op[], allowReplace: readonly string[] = []): T {
  let cur = structuredClone(doc);
  for (const op of patch) {
    assert.equal(op.op, 'add', `only add operations (${op.path})`);
    const tokens = op.path.split('/').slice(1);
    const last = tokens.at(-1)!;
    const parent = jsonpatch.getValueByPointer(cur, '/' + tokens.slice(0, -1).join('/')) as unknown;
    assert.ok(parent !== undefined && parent !== null, `the parent of ${op.path} exists`);
    if (!Array.isArray(parent) && !allowReplace.includes(op.path)) {
      const key = last.replace(/~1/g, '/').replace(/~0/g, '~');
      assert.ok(!Object.hasOwn(parent as Obj, key), `${op.path} adds a new member, it does not overwrite one`);
    }
    cur = jsonpatch.applyPatch(cur, [op as jsonpatch.Operation], true, false).newDocument as T;
  }
  return cur;
}

/** The pod with podmeta's additions removed again (must equal the input: nothing else was touched). */
export function stripPodmeta(result: Obj, input: Obj): Obj {
  const out = structuredClone(result);
  const spec = out.spec;
  const pm = (spec.initContainers as Obj[]).find((c) => c.name === 'podmeta')!;
  const volume = pm.volumeMounts[0].name as string;
  spec.initContainers = spec.initContainers.filter((c: Obj) => c !== pm);
  if (!input.spec.initContainers) delete spec.initContainers;
  spec.volumes = spec.volumes.filter((v: Obj) => v.name !== volume);
  if (!input.spec.volumes) delete spec.volumes;
  for (const field of ['initContainers', 'containers'])
    (spec[field] ?? []).forEach((c: Obj, i: number) => {
      const before = input.spec[field][i];
      if ((before.env ?? []).some((e: Obj) => e.name === 'PODMETA_URL')) return;
      c.env = c.env.filter((e: Obj) => e.name !== 'PODMETA_URL');
      if (!before.env) delete c.env;
    });
  if (!input.metadata) delete out.metadata;
  else {
    delete out.metadata.annotations['podmeta.io/status'];
    if (!input.metadata.annotations) delete out.metadata.annotations;
  }
  return out;
}

const POD_LEVEL_FOR_CONTAINERS = ['runAsNonRoot', 'runAsUser', 'runAsGroup', 'seccompProfile'];

/**
 * What `podmeta inject` must turn the plain example's pod spec into: k8s/deployment.yaml's hand-written one, with
 * the marker annotation, PODMETA_URL on the app, and the pod-level security settings that the hand-written sidecar
 * inherits written on the injected sidecar itself (an injected pod's securityContext belongs to its user).
 */
export function expectedFromHandWritten(template: Obj): Obj {
  const t = structuredClone(template);
  t.metadata.annotations = { ...t.metadata.annotations, 'podmeta.io/status': 'injected' };
  const spec = t.spec;
  const pm = spec.initContainers.find((c: Obj) => c.name === 'podmeta');
  for (const k of POD_LEVEL_FOR_CONTAINERS)
    if (spec.securityContext?.[k] !== undefined && pm.securityContext[k] === undefined) pm.securityContext[k] = spec.securityContext[k];
  for (const c of spec.containers) c.env = [...(c.env ?? []), { name: 'PODMETA_URL', value: 'http://127.0.0.1:9977' }];
  return t;
}

/** The plain example: the hand-written Deployment without podmeta (what a user has before injecting). */
export function withoutPodmeta(template: Obj): Obj {
  const t = structuredClone(template);
  t.spec.initContainers = t.spec.initContainers.filter((c: Obj) => c.name !== 'podmeta');
  if (t.spec.initContainers.length === 0) delete t.spec.initContainers;
  t.spec.volumes = t.spec.volumes.filter((v: Obj) => v.name !== 'podinfo');
  if (t.spec.volumes.length === 0) delete t.spec.volumes;
  return t;
}
