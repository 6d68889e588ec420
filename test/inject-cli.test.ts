// `podmeta inject`: the real CLI (src/cli.ts) as a child process. Multi-document YAML with comments round-trips
// (untouched documents byte for byte, touched ones keep their comments), every workload kind is found, the
// result is idempotent, and the plain example becomes the pod spec k8s/deployment.yaml writes by hand.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { K8S, REPO, kustomize, podSpecOf, schemaProblems, type K8sObject } from './support/manifests.js';
import { restrictedProblems } from './support/pod-security.js';
import { expectedFromHandWritten } from './support/inject-check.js';

type Obj = Record<string, any>;
const run = promisify(execFile);
const CLI = path.join(REPO, 'src', 'cli.ts');
const MULTI = path.join(import.meta.dirname, 'fixtures', 'inject', 'cli', 'multi.yaml');
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], stdin?: string): Promise<Out> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'inject', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

const docs = (text: string): Obj[] => parseAllDocuments(text).map((d) => d.toJS() as Obj);
/** the source text of each document (split at `---` lines) */
const chunks = (text: string): string[] => text.split(/^(?=---$)/m);

describe('podmeta inject', () => {
  it('turns the plain example into the pod spec k8s/deployment.yaml writes by hand', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, 'inject', '-f', path.join(K8S, 'examples', 'plain-deployment.yaml')]);
    assert.match(stderr, /^deployment\/podmeta-example injected$/m);
    const injected = parse(stdout) as Obj;
    const handWritten = (await kustomize(K8S)).find((o) => o.kind === 'Deployment') as Obj;
    assert.ok(handWritten);
    const expected = expectedFromHandWritten(handWritten.spec.template);
    expected.metadata.labels['podmeta.io/inject'] = 'true';
    assert.equal(expected.spec.initContainers[0].image, `podmeta:${VERSION}`, 'the default image is podmeta:<version>');
    assert.deepEqual(injected.spec.template, expected);
    assert.deepEqual(await schemaProblems(injected as K8sObject), []);
    assert.deepEqual(restrictedProblems({ spec: injected.spec.template.spec }), []);
  });

  it('round-trips multi-document YAML: untouched documents byte for byte, comments kept, idempotent', async () => {
    const input = readFileSync(MULTI, 'utf8');
    const first = await cli(['-f', MULTI, '--image', 'registry.example.com/podmeta:9.9.9']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(first.stderr.trim().split('\n'), [
      'deployment/web injected',
      'cronjob/nightly injected',
      'statefulset/db skipped (not-opted-in)',
      'items.0: pod/listed injected',
    ]);
    const [cmIn, deployIn, svcIn, cronIn, stsIn] = chunks(input);
    const out = chunks(first.stdout);
    assert.equal(out.length, chunks(input).length);
    // the ConfigMap (with the file's leading comment), the Service (with its `...`) and the StatefulSet: unchanged bytes
    assert.equal(out[0], cmIn);
    assert.equal(out[2], svcIn);
    assert.equal(out[4], stsIn);
    assert.ok(first.stdout.endsWith('# a trailing comment\n'));
    // the touched documents keep their comments, key order and the unknown field
    for (const comment of ['# the web tier (opted in)', '# opt-in', '# a field no schema knows yet', '# the app'])
      assert.ok(out[1]!.includes(comment), `kept: ${comment}`);
    assert.ok(out[3]!.includes('# nightly job (opted in), pod template two levels down'));
    assert.notEqual(out[1], deployIn);
    assert.notEqual(out[3], cronIn);
    const [, deploy, , cron, , list] = docs(first.stdout);
    assert.deepEqual(Object.keys(deploy!), ['apiVersion', 'kind', 'metadata', 'spec']);
    assert.deepEqual(deploy!.spec.template.spec.futureField, { keep: 'me' });
    for (const o of [deploy!, cron!, list!.items[0]]) {
      const spec = podSpecOf(o as K8sObject)!;
      assert.equal(spec.initContainers?.[0]?.name, 'podmeta', (o as Obj).kind);
      assert.equal(spec.initContainers?.[0]?.image, 'registry.example.com/podmeta:9.9.9');
    }
    assert.deepEqual((await schemaProblems(cron as K8sObject)).filter((p) => !p.startsWith('CronJob/nightly: no field list')), []);
    // idempotent: a second run (from stdin) changes nothing at all
    const second = await cli(['-f', '-', '--image=registry.example.com/podmeta:9.9.9'], first.stdout);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);
    assert.match(second.stderr, /deployment\/web skipped \(already-injected\)\n {2}warning: podmeta: already injected/);
  });

  it('--all injects every template except an explicit opt-out', async () => {
    const text = [
      'kind: Pod\napiVersion: v1\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x:1}]}',
      'kind: Pod\napiVersion: v1\nmetadata: {name: b, labels: {podmeta.io/inject: "false"}}\nspec: {containers: [{name: c, image: x:1}]}',
      'kind: Job\napiVersion: batch/v1\nmetadata: {name: j}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: x:1}]}}}',
    ].join('\n---\n') + '\n';
    const r = await cli(['--all'], text);
    assert.equal(r.code, 0, r.stderr);
    const [a, b, j] = docs(r.stdout);
    assert.equal(a!.spec.initContainers[0].name, 'podmeta');
    assert.equal(b!.spec.initContainers, undefined);
    // a template without metadata gets one, holding the marker
    assert.deepEqual(j!.spec.template.metadata, { annotations: { 'podmeta.io/status': 'injected' } });
    assert.equal(j!.spec.template.spec.initContainers[0].name, 'podmeta');
    assert.match(r.stderr, /pod\/b skipped \(opted-out\)/);
  });

  it('an invalid annotation refuses the whole input: exit 1, the annotation named, nothing on stdout', async () => {
    const text = readFileSync(MULTI, 'utf8').replace('podmeta.io/inject: "true"   # opt-in', 'podmeta.io/inject: "true"\n      annotations: {podmeta.io/api: sometimes}');
    const r = await cli([], text);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^podmeta inject: deployment\/web: annotation podmeta\.io\/api: "sometimes": expected one of auto, on, off$/m);
  });

  it('bad usage exits 2; unreadable or broken input exits 1, naming it', async () => {
    const unknown = await cli(['--bogus']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown argument "--bogus"/);
    const image = await cli(['--image', 'bad image']);
    assert.equal(image.code, 2);
    assert.match(image.stderr, /--image needs an image reference/);
    const missing = await cli(['-f', '/nonexistent/x.yaml']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read \/nonexistent\/x\.yaml/);
    const broken = await cli([], 'kind: Pod\nmetadata: {name: [\n');
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /^podmeta inject: stdin: document 1: /);
    assert.equal(broken.stdout, '');
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /podmeta inject \[-f FILE\|-\] \[--all\] \[--image IMAGE\]/);
  });

  it('input without any workload comes back unchanged', async () => {
    const text = '# just a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {a: b}\n';
    const r = await cli([], text);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, text);
    assert.equal(r.stderr, '');
  });
});
