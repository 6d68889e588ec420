// The one injection function (src/inject/mutate.ts): table-driven fixtures -> golden patches (checked in,
// test/fixtures/inject/*.golden.json; `UPDATE_GOLDEN=1` rewrites them for review), applied with an independent
// JSON Patch library (fast-json-patch), add-only, every other field intact (a made-up future field in every
// fixture survives), the result valid for the Kubernetes schemas and Pod Security `restricted`, idempotent.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { inject, type InjectResult } from '../src/inject/mutate.js';
import { isGuaranteed, parseQuantity, sameQuantity } from '../src/inject/qos.js';
import { readSettings, AnnotationError } from '../src/inject/annotations.js';
import { K8S, REPO, kustomize, schemaProblems, type K8sObject } from './support/manifests.js';
import { restrictedProblems } from './support/pod-security.js';
import { applyAddOnly, expectedFromHandWritten, stripPodmeta, withoutPodmeta } from './support/inject-check.js';

type Obj = Record<string, any>;
const FIXTURES = path.join(import.meta.dirname, 'fixtures', 'inject');
const IMAGE = 'registry.example.com/podmeta:1.2.3';
const OPTIONS: Record<string, { all?: boolean }> = { 'opted-out': { all: true } };
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -5))
  .sort();

describe('fixtures -> golden patches', () => {
  it('there are fixtures for every outcome', () => {
    const statuses = new Set(fixtures.map((n) => inject(parse(readFileSync(path.join(FIXTURES, `${n}.yaml`), 'utf8')), { image: IMAGE }).status));
    assert.deepEqual([...statuses].sort(), ['injected', 'refused', 'repaired', 'skipped']);
  });

  for (const name of fixtures) {
    it(name, async () => {
      const input = parse(readFileSync(path.join(FIXTURES, `${name}.yaml`), 'utf8')) as Obj;
      const frozen = structuredClone(input);
      const result = inject(input, { image: IMAGE, ...OPTIONS[name] });
      assert.deepEqual(input, frozen, 'the input object is not modified');

      const golden = path.join(FIXTURES, `${name}.golden.json`);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(golden)) writeFileSync(golden, JSON.stringify(result, null, 2) + '\n');
      assert.deepEqual(result, JSON.parse(readFileSync(golden, 'utf8')) as InjectResult, `${name}: matches ${path.basename(golden)}`);

      // every fixture carries fields no schema knows; they must survive whatever happens
      const applied = applyAddOnly(input, result.patch, result.status === 'repaired' ? [result.patch[0]!.path] : []);
      assert.deepEqual(applied.spec.futureField, input.spec.futureField);
      for (const c of input.spec.containers) {
        const after = applied.spec.containers.find((x: Obj) => x.name === c.name);
        assert.deepEqual(after.futureContainerField, c.futureContainerField, `${c.name}.futureContainerField`);
      }
      // the strict schema check sees exactly the made-up fields as unknown, nothing else is wrong
      const problems = await schemaProblems(applied as K8sObject);
      assert.deepEqual(problems.filter((p) => !/future(Container)?Field: unknown field/.test(p)), []);
      assert.ok(problems.some((p) => /spec\.futureField: unknown field/.test(p)), 'the validator is strict');

      if (result.status !== 'injected') {
        if (result.status === 'repaired') assert.equal(applied.spec.initContainers.find((c: Obj) => c.name === 'podmeta').restartPolicy, 'Always');
        else assert.deepEqual(applied, input, 'nothing changed');
        return;
      }
      assert.deepEqual(stripPodmeta(applied, input), input, 'podmeta only added its own parts');
      const pm = applied.spec.initContainers[0];
      assert.equal(pm.name, 'podmeta', 'podmeta is FIRST in initContainers');
      assert.equal(pm.restartPolicy, 'Always');
      assert.equal(applied.metadata.annotations['podmeta.io/status'], 'injected');
      for (const c of [...applied.spec.containers, ...applied.spec.initContainers.slice(1)])
        assert.equal(c.env.filter((e: Obj) => e.name === 'PODMETA_URL').length, 1, `${c.name} has one PODMETA_URL`);
      // Pod Security `restricted`: podmeta adds no violation; a compliant pod stays compliant
      const psa = restrictedProblems(applied);
      assert.deepEqual(psa.filter((p) => p.includes('container podmeta') || p.startsWith('pod:')), []);
      if (restrictedProblems(input).length === 0) assert.deepEqual(psa, []);
      // idempotent: injecting the result again changes nothing and says why
      const again = inject(applied, { image: IMAGE, all: true });
      assert.equal(again.status, 'skipped');
      assert.deepEqual(again.patch, []);
      assert.match(again.warnings.join('\n'), /already injected/);
    });
  }
});

describe('the injected pod spec is what k8s/deployment.yaml writes by hand', () => {
  it('inject(k8s/examples/plain-deployment.yaml) == the rendered base Deployment', async () => {
    const handWritten = (await kustomize(K8S)).find((o) => o.kind === 'Deployment') as Obj;
    assert.ok(handWritten, 'the base renders a Deployment');
    const plain = parse(readFileSync(path.join(K8S, 'examples', 'plain-deployment.yaml'), 'utf8')) as Obj;
    // the plain example is exactly the hand-written Deployment minus podmeta, plus the opt-in label
    const expectedPlain = structuredClone(handWritten);
    expectedPlain.spec.template = withoutPodmeta(expectedPlain.spec.template);
    expectedPlain.spec.template.metadata.labels['podmeta.io/inject'] = 'true';
    assert.deepEqual(plain, expectedPlain);

    const result = inject(plain.spec.template, { image: `podmeta:${VERSION}` });
    assert.equal(result.status, 'injected');
    const injected = structuredClone(plain);
    injected.spec.template = applyAddOnly(plain.spec.template, result.patch);
    const expected = structuredClone(expectedPlain);
    expected.spec.template = expectedFromHandWritten({ ...handWritten.spec.template, metadata: expectedPlain.spec.template.metadata });
    assert.deepEqual(injected, expected);
  });
});

describe('per-pod settings (annotations)', () => {
  const refusal = (annotations: Record<string, unknown>, containers = ['app']) => {
    try {
      readSettings(annotations, containers);
    } catch (err) {
      assert.ok(err instanceof AnnotationError);
      return err.message;
    }
    return undefined;
  };
  const cases: Array<[string, unknown, RegExp]> = [
    ['podmeta.io/api', 'maybe', /^annotation podmeta\.io\/api: "maybe": expected one of auto, on, off$/],
    ['podmeta.io/api', '', /^annotation podmeta\.io\/api: must not be empty$/],
    ['podmeta.io/log-level', 'loud', /^annotation podmeta\.io\/log-level: "loud": expected one of debug, info, warn, error$/],
    ['podmeta.io/proxy-listen', '0.0.0.0:8001', /^annotation podmeta\.io\/proxy-listen: .*must listen on loopback/],
    ['podmeta.io/proxy-listen', '127.0.0.1', /^annotation podmeta\.io\/proxy-listen: .*expected host:port/],
    ['podmeta.io/node-labels', 'a b', /^annotation podmeta\.io\/node-labels: "a b" is not a label key/],
    ['podmeta.io/node-labels', 'Bad_Prefix/x', /^annotation podmeta\.io\/node-labels: .*prefix must be a DNS subdomain/],
    ['podmeta.io/container', 'nope', /^annotation podmeta\.io\/container: no container named "nope" \(containers: app\)$/],
    ['podmeta.io/container', 7, /^annotation podmeta\.io\/container: must be a string$/],
  ];
  for (const [annotation, value, message] of cases)
    it(`${annotation}=${JSON.stringify(value)} is refused, naming the annotation`, () => {
      assert.match(refusal({ [annotation]: value }) ?? '(accepted)', message);
    });

  it('valid values become the agent variables; node-labels may be empty (never read the Node)', () => {
    const s = readSettings(
      { 'podmeta.io/node-labels': '', 'podmeta.io/api': ' off ', 'podmeta.io/proxy-listen': '[::1]:8001', 'podmeta.io/container': 'b' },
      ['a', 'b'],
    );
    assert.deepEqual(s.env, [
      { name: 'PODMETA_API', value: 'off' },
      { name: 'PODMETA_NODE_LABELS', value: '' },
      { name: 'PODMETA_PROXY_LISTEN', value: '[::1]:8001' },
      { name: 'PODMETA_CONTAINER', value: 'b' },
    ]);
    assert.equal(s.container, 'b');
  });

  it('the default container: kubectl.kubernetes.io/default-container, else the first (with a warning if it names none)', () => {
    assert.equal(readSettings({ 'kubectl.kubernetes.io/default-container': 'b' }, ['a', 'b']).container, 'b');
    const s = readSettings({ 'kubectl.kubernetes.io/default-container': 'zz' }, ['a', 'b']);
    assert.equal(s.container, 'a');
    assert.match(s.warnings.join(), /names no container/);
    assert.equal(readSettings({}, ['a', 'b']).container, 'a');
  });

  it('a refusal from inject() carries the annotation', () => {
    const r = inject({ metadata: { labels: { 'podmeta.io/inject': 'true' }, annotations: { 'podmeta.io/api': 'sometimes' } }, spec: { containers: [{ name: 'a' }] } }, { image: IMAGE });
    assert.equal(r.status, 'refused');
    assert.equal(r.status === 'refused' && r.annotation, 'podmeta.io/api');
  });
});

describe('QoS', () => {
  it('quantities compare exactly', () => {
    assert.ok(sameQuantity('100m', '0.1'));
    assert.ok(sameQuantity('1Gi', '1024Mi'));
    assert.ok(sameQuantity('1e3', '1k'));
    assert.ok(sameQuantity(2, '2000m'));
    assert.ok(!sameQuantity('1G', '1Gi'));
    assert.ok(!sameQuantity('100m', '101m'));
    assert.equal(parseQuantity('1.5.5'), undefined);
    assert.equal(parseQuantity('12 Mi'), undefined);
  });
  it('Guaranteed only when every container has equal cpu and memory requests and limits', () => {
    const c = (requests: Obj | undefined, limits: Obj | undefined) => ({ name: 'x', resources: { requests, limits } });
    assert.ok(isGuaranteed({ containers: [c(undefined, { cpu: '1', memory: '1Gi' })] }));
    assert.ok(!isGuaranteed({ containers: [c({ cpu: '1' }, { cpu: '1' })] }));
    assert.ok(!isGuaranteed({ containers: [c({ cpu: '500m', memory: '1Gi' }, { cpu: '1', memory: '1Gi' })] }));
    assert.ok(!isGuaranteed({ containers: [c(undefined, { cpu: '1', memory: '1Gi' })], initContainers: [{ name: 'i' }] }));
    assert.ok(!isGuaranteed({ containers: [] }));
  });
});
