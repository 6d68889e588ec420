// k8s/components/mutating-policy: the MutatingAdmissionPolicy must produce the pod the injection function
// produces. Its CEL is evaluated on every injection fixture (test/support/k8s-cel.ts: @bufbuild/cel plus the
// Kubernetes functions it uses) and the result compared with src/inject/mutate.ts's. The ValidatingAdmissionPolicy
// is evaluated the same way. What this cannot prove: the API server's CEL type checking and cost limits, and
// its ApplyConfiguration merge (modelled here) — no kube-apiserver runs in this suite.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import jsonpatch from 'fast-json-patch';
import { inject } from '../src/inject/mutate.js';
import { K8S, REPO, id, kustomize, schemaProblems, type K8sObject } from './support/manifests.js';
import { applyMerge, evaluate, untype } from './support/k8s-cel.js';
import { expectedFromHandWritten } from './support/inject-check.js';

type Obj = Record<string, any>;
const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'inject');
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const IMAGE = `podmeta:${VERSION}`;

let objs: K8sObject[];
const get = (kind: string, name: string): Obj => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} rendered`);
  return o as Obj;
};

before(async () => {
  objs = await kustomize(path.join(K8S, 'components', 'mutating-policy'));
});

/** What the API server would do with the two mutating policies (bindings: objectSelector on the opt-in label). */
function admit(pod: Obj): Obj {
  let cur = structuredClone(pod);
  if (cur.metadata?.labels?.['podmeta.io/inject'] !== 'true') return cur;
  for (const name of ['podmeta-inject', 'podmeta-repair']) {
    const spec = get('MutatingAdmissionPolicy', name).spec as Obj;
    if (!(spec.matchConditions as Obj[]).every((m) => evaluate(m.expression, { object: cur }) === true)) continue;
    for (const m of spec.mutations as Obj[]) {
      const variables: Obj = {};
      for (const v of (spec.variables ?? []) as Obj[]) variables[v.name] = evaluate(v.expression, { object: cur, variables });
      if (m.patchType === 'ApplyConfiguration') cur = applyMerge(cur, evaluate(m.applyConfiguration.expression, { object: cur, variables })) as Obj;
      else {
        const ops = evaluate(m.jsonPatch.expression, { object: cur, variables }) as jsonpatch.Operation[];
        cur = jsonpatch.applyPatch(cur, ops, true, false).newDocument as Obj;
      }
    }
  }
  return cur;
}

function viaFunction(pod: Obj): Obj {
  const r = inject(pod, { image: IMAGE });
  return jsonpatch.applyPatch(structuredClone(pod), r.patch as jsonpatch.Operation[], true, false).newDocument as Obj;
}

const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();

describe('the MutatingAdmissionPolicy produces what the injection function produces', () => {
  it('the untyping rewrite keeps strings and turns typed construction into maps', () => {
    assert.equal(untype("Object.spec.x{name: 'a:b', v: Object.spec.x.y{n: 1}}"), "{'name': 'a:b', 'v': {'n': 1}}");
    assert.equal(untype("c ? JSONPatch{op: 'add', path: '/a'} : Object{}"), "c ? {'op': 'add', 'path': '/a'} : {}");
    assert.equal(untype("m.map(p, {'cpu': x})"), "m.map(p, {'cpu': x})");
  });

  for (const name of fixtures)
    it(name, () => {
      const pod = parse(readFileSync(path.join(FIXTURES, `${name}.yaml`), 'utf8')) as Obj;
      assert.deepEqual(admit(pod), viaFunction(pod));
    });

  it('the plain example becomes the hand-written pod spec', async () => {
    const plain = parse(readFileSync(path.join(K8S, 'examples', 'plain-deployment.yaml'), 'utf8')) as Obj;
    const handWritten = (await kustomize(K8S)).find((o) => o.kind === 'Deployment') as Obj;
    const expected = expectedFromHandWritten(handWritten.spec.template);
    assert.deepEqual(admit(plain.spec.template).spec, expected.spec);
  });

  it('the policy injects the released image', () => {
    const v = (get('MutatingAdmissionPolicy', 'podmeta-inject').spec.variables as Obj[]).find((x) => x.name === 'image');
    assert.equal(evaluate(v!.expression, {}), IMAGE);
  });

  it('is a v1 MutatingAdmissionPolicy with the webhook settings (structural: kubernetes-models has no v1 schema for it)', async () => {
    for (const name of ['podmeta-inject', 'podmeta-repair']) {
      const p = get('MutatingAdmissionPolicy', name);
      assert.equal(p.apiVersion, 'admissionregistration.k8s.io/v1');
      assert.deepEqual(Object.keys(p).sort(), ['apiVersion', 'kind', 'metadata', 'spec']);
      assert.equal(p.spec.failurePolicy, 'Ignore');
      assert.equal(p.spec.reinvocationPolicy, 'IfNeeded');
      assert.deepEqual(p.spec.matchConstraints, { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] });
      for (const m of p.spec.mutations as Obj[]) {
        assert.ok(['JSONPatch', 'ApplyConfiguration'].includes(m.patchType), m.patchType);
        const body = m.patchType === 'JSONPatch' ? m.jsonPatch : m.applyConfiguration;
        assert.deepEqual(Object.keys(m).sort(), ['patchType', m.patchType === 'JSONPatch' ? 'jsonPatch' : 'applyConfiguration'].sort());
        assert.equal(typeof body.expression, 'string');
      }
      const b = get('MutatingAdmissionPolicyBinding', name);
      assert.equal(b.apiVersion, 'admissionregistration.k8s.io/v1');
      assert.equal(b.spec.policyName, name);
      assert.deepEqual(b.spec.matchResources.objectSelector, { matchLabels: { 'podmeta.io/inject': 'true' } });
      assert.deepEqual(b.spec.matchResources.namespaceSelector.matchExpressions[0].values, ['kube-system', 'kube-public', 'kube-node-lease', 'podmeta-system']);
      assert.match((await schemaProblems(p as K8sObject)).join(), /no schema for admissionregistration\.k8s\.io\/v1 MutatingAdmissionPolicy/, 'still unknown to kubernetes-models: checked structurally here');
    }
  });
});

describe('the ValidatingAdmissionPolicy (Warn/Audit) flags what injection missed', () => {
  const failing = (pod: Obj): number[] =>
    (get('ValidatingAdmissionPolicy', 'podmeta-injected').spec.validations as Obj[]).flatMap((v, i) => (evaluate(v.expression, { object: pod }) === true ? [] : [i]));
  const fixture = (n: string) => parse(readFileSync(path.join(FIXTURES, `${n}.yaml`), 'utf8')) as Obj;

  it('validates against the Kubernetes schemas; binding in Warn + Audit', async () => {
    const vap = get('ValidatingAdmissionPolicy', 'podmeta-injected');
    const binding = get('ValidatingAdmissionPolicyBinding', 'podmeta-injected');
    assert.deepEqual([...(await schemaProblems(vap as K8sObject)), ...(await schemaProblems(binding as K8sObject))], []);
    assert.deepEqual(binding.spec.validationActions, ['Warn', 'Audit']);
    assert.equal(binding.spec.policyName, 'podmeta-injected');
  });

  it('every injected fixture passes; an opted-in pod without podmeta, a lost restartPolicy and a bad setting are flagged', () => {
    for (const n of fixtures) {
      const pod = fixture(n);
      const r = inject(pod, { image: IMAGE });
      if (r.status === 'injected') assert.deepEqual(failing(viaFunction(pod)), [], n);
    }
    assert.deepEqual(failing(fixture('basic')), [0], 'opted in, no sidecar');
    assert.deepEqual(failing(fixture('lost-restart-policy')), [1]);
    assert.deepEqual(failing(fixture('invalid-annotation')), [0, 2]);
    assert.deepEqual(failing(fixture('host-network')), [], 'hostNetwork pods are skipped on purpose');
    assert.deepEqual(failing(fixture('own-podmeta')), []);
  });
});

it('objects render: policies, bindings', () => {
  assert.deepEqual(objs.map(id).sort(), [
    'MutatingAdmissionPolicy/podmeta-inject',
    'MutatingAdmissionPolicy/podmeta-repair',
    'MutatingAdmissionPolicyBinding/podmeta-inject',
    'MutatingAdmissionPolicyBinding/podmeta-repair',
    'ValidatingAdmissionPolicy/podmeta-injected',
    'ValidatingAdmissionPolicyBinding/podmeta-injected',
  ]);
});
