// The injection webhook, for real: HTTPS on an ephemeral loopback port with certificates made by openssl, POSTed
// to like the API server does (AdmissionReview v1), plus malformed reviews, fail-open on an internal error,
// certificate reload, readiness and metrics; and the program itself (src/injector.ts) as a child process.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import jsonpatch from 'fast-json-patch';
import { Injector, MAX_BODY_BYTES } from '../src/inject/server.js';
import { parseInjectorConfig, type InjectorConfig } from '../src/inject/config.js';
import { createLogger } from '../src/log.js';
import { InjectorMetrics } from '../src/inject/metrics.js';
import { K8S, REPO, kustomize, schemaProblems, type K8sObject } from './support/manifests.js';
import { expectedFromHandWritten } from './support/inject-check.js';
import { restrictedProblems } from './support/pod-security.js';
import { eventually } from './support/wait.js';
import { builtDist } from './support/dist.js';

type Obj = Record<string, any>;
const run = promisify(execFile);
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

let dir: string;
/** two unrelated self-signed serving certificates for 127.0.0.1 (each is its own CA) */
const pems: Record<'a' | 'b', { cert: string; key: string }> = { a: { cert: '', key: '' }, b: { cert: '', key: '' } };

async function selfSigned(name: string): Promise<{ cert: string; key: string }> {
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=podmeta-injector-${name}`,
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { cwd: dir });
  return { cert: await readFile(path.join(dir, `${name}.crt`), 'utf8'), key: await readFile(path.join(dir, `${name}.key`), 'utf8') };
}

/** Write a pair the way kubelet updates a Secret volume: whole files replaced by rename. */
async function install(which: 'a' | 'b' | { cert: string; key: string }, sub = 'tls'): Promise<void> {
  const pem = typeof which === 'string' ? pems[which] : which;
  await run('mkdir', ['-p', path.join(dir, sub)]);
  for (const [f, text] of [['tls.crt', pem.cert], ['tls.key', pem.key]] as const) {
    await writeFile(path.join(dir, sub, `.${f}.tmp`), text);
    await rename(path.join(dir, sub, `.${f}.tmp`), path.join(dir, sub, f));
  }
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'podmeta-injector-'));
  [pems.a, pems.b] = await Promise.all([selfSigned('a'), selfSigned('b')]);
});
after(() => rm(dir, { recursive: true, force: true }));

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Obj;
  cert: string;
}

function call(port: number, ca: string, opts: { method?: string; path?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/mutate', ca, servername: 'localhost', agent: false, headers: opts.headers ?? { 'Content-Type': 'application/json' }, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        const peer = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) as Obj, cert: String(peer?.subject?.CN ?? '') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

function review(object: unknown, extra: Obj = {}): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      dryRun: false,
      ...extra,
    },
  });
}

const decodePatch = (r: Obj): Obj[] => JSON.parse(Buffer.from(r.response.patch as string, 'base64').toString()) as Obj[];

interface Started {
  injector: Injector;
  port: number;
  logs: Obj[];
}

async function startInjector(t: { after: (fn: () => unknown) => void }, over: Partial<InjectorConfig> = {}, inject?: ConstructorParameters<typeof Injector>[0]['inject']): Promise<Started> {
  const logs: Obj[] = [];
  const config: InjectorConfig = {
    ...parseInjectorConfig({}),
    listen: { host: '127.0.0.1', port: 0 },
    tlsCert: path.join(dir, 'tls', 'tls.crt'),
    tlsKey: path.join(dir, 'tls', 'tls.key'),
    image: 'registry.example.com/podmeta:1.2.3',
    reloadMs: 50,
    ...over,
  };
  const log = createLogger({ level: 'debug', write: (l) => void logs.push(JSON.parse(l) as Obj) });
  const injector = new Injector({ config, log, metrics: new InjectorMetrics({ defaultMetrics: false }), ...(inject ? { inject } : {}) });
  const addr = await injector.start();
  t.after(() => injector.stop(500));
  return { injector, port: addr.port, logs };
}

const plainPod = (): Obj => {
  const d = parse(readFileSync(path.join(K8S, 'examples', 'plain-deployment.yaml'), 'utf8')) as Obj;
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...d.spec.template.metadata, generateName: 'podmeta-example-5d9c7b8f4-', namespace: 'shop' }, spec: d.spec.template.spec };
};

describe('POST /mutate', () => {
  it('answers with the uid, allowed, and a base64 JSONPatch that gives the hand-written pod spec', async (t) => {
    await install('a');
    const { port, injector } = await startInjector(t, { image: `podmeta:${VERSION}` });
    const pod = plainPod();
    const res = await call(port, pems.a.cert, { body: review(pod) });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    const body = res.json();
    assert.equal(body.apiVersion, 'admission.k8s.io/v1');
    assert.equal(body.kind, 'AdmissionReview');
    assert.equal(body.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
    assert.equal(body.response.allowed, true);
    assert.equal(body.response.patchType, 'JSONPatch');
    const patched = jsonpatch.applyPatch(structuredClone(pod), decodePatch(body) as jsonpatch.Operation[], true, false).newDocument as Obj;
    const handWritten = (await kustomize(K8S)).find((o) => o.kind === 'Deployment') as Obj;
    const expected = expectedFromHandWritten(handWritten.spec.template);
    assert.deepEqual(patched.spec, expected.spec, 'the webhook produces the pod spec k8s/deployment.yaml writes by hand');
    assert.equal(patched.metadata.annotations['podmeta.io/status'], 'injected');
    assert.deepEqual(await schemaProblems(patched as K8sObject), []);
    assert.deepEqual(restrictedProblems(patched), []);
    assert.match(await injector.metrics.registry.metrics(), /^podmeta_injector_injections_total 1$/m);

    // the API server sends the reinvocation the patched pod: empty patch, a warning
    const again = (await call(port, pems.a.cert, { body: review(patched) })).json();
    assert.equal(again.response.allowed, true);
    assert.equal(again.response.patch, undefined);
    assert.equal(again.response.patchType, undefined);
    assert.match(again.response.warnings.join(), /already injected/);
    // ... and one whose podmeta init container lost restartPolicy gets it back
    const stripped = structuredClone(patched);
    delete stripped.spec.initContainers[0].restartPolicy;
    const repaired = (await call(port, pems.a.cert, { body: review(stripped) })).json();
    assert.deepEqual(decodePatch(repaired), [{ op: 'add', path: '/spec/initContainers/0/restartPolicy', value: 'Always' }]);
  });

  it('refuses an invalid per-pod setting, naming the annotation', async (t) => {
    await install('a');
    const { port, injector } = await startInjector(t);
    const pod = plainPod();
    pod.metadata.annotations['podmeta.io/container'] = 'nope';
    const r = (await call(port, pems.a.cert, { body: review(pod) })).json();
    assert.equal(r.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
    assert.equal(r.response.allowed, false);
    assert.equal(r.response.status.code, 422);
    assert.match(r.response.status.message, /^podmeta: annotation podmeta\.io\/container: no container named "nope"/);
    assert.equal(r.response.patch, undefined);
    assert.match(await injector.metrics.registry.metrics(), /^podmeta_injector_refusals_total\{annotation="podmeta.io\/container"\} 1$/m);
  });

  it('an internal error fails open: allowed, no patch, logged and counted', async (t) => {
    await install('a');
    const { port, injector, logs } = await startInjector(t, {}, () => {
      throw new TypeError('boom');
    });
    const r = await call(port, pems.a.cert, { body: review(plainPod()) });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json().response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
    assert.match(await injector.metrics.registry.metrics(), /^podmeta_injector_errors_total 1$/m);
    const line = logs.find((l) => l.level === 'error');
    assert.match(line?.msg ?? '', /fail open/);
    assert.equal(line?.err?.message, 'boom');
    assert.equal(line?.namespace, 'shop');
  });

  it('UPDATE and other operations are admitted unchanged', async (t) => {
    await install('a');
    const { port } = await startInjector(t);
    const r = (await call(port, pems.a.cert, { body: review(plainPod(), { operation: 'UPDATE' }) })).json();
    assert.deepEqual(r.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });

  it('malformed requests get clear HTTP errors, and the webhook keeps serving', async (t) => {
    await install('a');
    const { port, injector } = await startInjector(t);
    const json = { 'Content-Type': 'application/json' };
    const cases: Array<[string, Parameters<typeof call>[2], number, RegExp]> = [
      ['wrong apiVersion', { body: review(plainPod()).replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1') }, 400, /expected apiVersion admission\.k8s\.io\/v1, got "admission\.k8s\.io\/v1beta1"/],
      ['wrong kind', { body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'Pod' }) }, 400, /expected kind AdmissionReview/],
      ['wrong content type', { body: review(plainPod()), headers: { 'Content-Type': 'text/plain' } }, 415, /expected Content-Type application\/json, got "text\/plain"/],
      ['no content type', { body: review(plainPod()), headers: {} }, 415, /expected Content-Type application\/json/],
      ['empty body', { body: '', headers: json }, 400, /empty body/],
      ['not JSON', { body: '{"apiVersion":', headers: json }, 400, /the body is not JSON/],
      ['a JSON array', { body: '[]', headers: json }, 400, /expected a JSON object/],
      ['no request', { body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }) }, 400, /has no request/],
      ['no uid', { body: review(plainPod(), { uid: '' }) }, 400, /request\.uid is missing/],
      ['not a Pod', { body: review({ kind: 'Deployment' }, { kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, resource: { group: 'apps', version: 'v1', resource: 'deployments' } }) }, 400, /not a Pod/],
      ['no object', { body: review(undefined) }, 400, /request\.object is missing/],
      ['oversized (declared)', { body: Buffer.alloc(MAX_BODY_BYTES + 1, 0x20), headers: json }, 413, /body larger than/],
      ['GET /mutate', { method: 'GET', headers: {} }, 405, /accepts POST only/],
      ['unknown path', { method: 'GET', path: '/admit', headers: {} }, 404, /no such path "\/admit"/],
    ];
    for (const [name, opts, status, message] of cases) {
      const r = await call(port, pems.a.cert, opts);
      assert.equal(r.status, status, `${name}: ${r.text}`);
      const e = r.json();
      assert.equal(e.code, status, name);
      assert.equal(typeof e.reason, 'string', name);
      assert.match(e.message, message, name);
    }
    // a body that grows past the limit without a Content-Length (chunked)
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/mutate', ca: pems.a.cert, servername: 'localhost', agent: false, headers: json }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      for (let i = 0; i < 7; i++) req.write(chunk);
      req.end();
    }).catch(() => 413);
    assert.equal(chunked, 413);
    // still alive and well
    assert.equal((await call(port, pems.a.cert, { body: review(plainPod()) })).json().response.allowed, true);
    assert.equal((await call(port, pems.a.cert, { method: 'GET', path: '/livez', headers: {} })).status, 200);
    const metrics = await injector.metrics.registry.metrics();
    assert.match(metrics, /^podmeta_injector_requests_total\{path="\/mutate",code="400"\} 9$/m);
    assert.match(metrics, /^podmeta_injector_requests_total\{path="\/mutate",code="415"\} 2$/m);
  });
});

describe('certificates, probes and metrics', () => {
  it('ready only once a certificate is loaded; TLS works from then on', async (t) => {
    const sub = 'late';
    const { port, injector } = await startInjector(t, { tlsCert: path.join(dir, sub, 'tls.crt'), tlsKey: path.join(dir, sub, 'tls.key') });
    assert.equal(injector.ready, false);
    await assert.rejects(call(port, pems.a.cert, { method: 'GET', path: '/readyz', headers: {} }), 'no TLS without a certificate');
    await install('a', sub);
    const ready = await eventually(async () => (await call(port, pems.a.cert, { method: 'GET', path: '/readyz', headers: {} }).catch(() => undefined))?.status === 200, 10_000, '/readyz 200');
    assert.ok(ready);
  });

  it('a rotated certificate is served without a restart; a broken one keeps the last good one, logged once', async (t) => {
    const sub = 'rotate';
    await install('a', sub);
    const { port, injector, logs } = await startInjector(t, { tlsCert: path.join(dir, sub, 'tls.crt'), tlsKey: path.join(dir, sub, 'tls.key') });
    assert.equal((await call(port, pems.a.cert, { method: 'GET', path: '/livez', headers: {} })).cert, 'podmeta-injector-a');
    await install('b', sub);
    await eventually(async () => (await call(port, pems.b.cert, { method: 'GET', path: '/livez', headers: {} }).catch(() => undefined))?.cert === 'podmeta-injector-b', 10_000, 'certificate b served');
    await assert.rejects(call(port, pems.a.cert, { method: 'GET', path: '/livez', headers: {} }), 'the old CA no longer verifies');
    // a key that does not match the certificate: keep b (install() replaces the two files one after the other,
    // so a poll may also have seen a half-written pair while b went in: count from here)
    const broken = () => logs.filter((l) => /do not form a valid pair/.test(l.msg)).length;
    const before = broken();
    await install({ cert: pems.a.cert, key: pems.b.key }, sub);
    await eventually(() => broken() > before, 10_000, 'the broken pair logged');
    await injector.reloadCertificate();
    await injector.reloadCertificate();
    assert.equal(broken(), before + 1, 'logged once');
    assert.equal((await call(port, pems.b.cert, { method: 'GET', path: '/readyz', headers: {} })).status, 200);
    const m = await injector.metrics.registry.metrics();
    assert.match(m, /^podmeta_injector_certificate_loads_total\{result="loaded"\} 2$/m);
    assert.match(m, /^podmeta_injector_certificate_loads_total\{result="failed"\} [1-9]\d*$/m);
    assert.match(m, /^podmeta_injector_certificate_expiry_timestamp_seconds \d+$/m);
  });

  it('/metrics counts skips by reason; /livez and /readyz answer GET', async (t) => {
    await install('a');
    const { port } = await startInjector(t);
    const notOptedIn = { metadata: { name: 'x' }, spec: { containers: [{ name: 'a', image: 'a:1' }] } };
    const own = { metadata: { name: 'y', labels: { 'podmeta.io/inject': 'true' } }, spec: { containers: [{ name: 'podmeta', image: 'a:1' }] } };
    await call(port, pems.a.cert, { body: review(notOptedIn) });
    await call(port, pems.a.cert, { body: review(own) });
    await call(port, pems.a.cert, { body: review(own) });
    const m = await call(port, pems.a.cert, { method: 'GET', path: '/metrics', headers: {} });
    assert.equal(m.status, 200);
    assert.match(m.text, /^podmeta_injector_skips_total\{reason="not-opted-in"\} 1$/m);
    assert.match(m.text, /^podmeta_injector_skips_total\{reason="has-podmeta-container"\} 2$/m);
    assert.match(m.text, /^podmeta_injector_requests_total\{path="\/mutate",code="200"\} 3$/m);
    assert.equal((await call(port, pems.a.cert, { method: 'POST', path: '/livez', headers: {} })).status, 405);
  });
});

describe('node src/injector.ts (the program)', () => {
  const MAIN = path.join(REPO, 'src', 'injector.ts');
  it('exits 2 naming every bad variable', async () => {
    const r = await run(process.execPath, ['--import', 'tsx', MAIN], {
      env: { PATH: process.env.PATH ?? '', PODMETA_INJECTOR_LISTEN: 'nope', PODMETA_INJECTOR_TLS_CERT: 'relative.crt', PODMETA_INJECTOR_IMAGE: 'Bad Image', PODMETA_LOG_LEVEL: 'loud' },
    }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((r as { code: number }).code, 2);
    const stderr = (r as { stderr: string }).stderr;
    for (const v of ['PODMETA_INJECTOR_LISTEN="nope"', 'PODMETA_INJECTOR_TLS_CERT="relative.crt"', 'PODMETA_INJECTOR_IMAGE="Bad Image"', 'PODMETA_LOG_LEVEL="loud"'])
      assert.ok(stderr.includes(v), `names ${v}: ${stderr}`);
    assert.match(stderr, /4 problems/);
  });

  async function servesThenStops(argv: string[]): Promise<void> {
    await install('a');
    const child = spawn(process.execPath, argv, {
      env: { PATH: process.env.PATH ?? '', PODMETA_INJECTOR_LISTEN: '127.0.0.1:0', PODMETA_INJECTOR_TLS_CERT: path.join(dir, 'tls', 'tls.crt'), PODMETA_INJECTOR_TLS_KEY: path.join(dir, 'tls', 'tls.key') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const line = await eventually(() => out.split('\n').find((l) => l.includes('"podmeta injector listening"')), 15_000, 'listening line');
      const listening = JSON.parse(line) as { listen: string; image: string };
      assert.equal(listening.image, `podmeta:${VERSION}`, 'default image: podmeta:<version>');
      const port = Number(listening.listen.split(':').at(-1));
      assert.equal((await call(port, pems.a.cert, { method: 'GET', path: '/readyz', headers: {} })).status, 200);
      const r = (await call(port, pems.a.cert, { body: review(plainPod()) })).json();
      assert.equal(r.response.patchType, 'JSONPatch');
      assert.match((await call(port, pems.a.cert, { method: 'GET', path: '/metrics', headers: {} })).text, /^podmeta_injector_injections_total 1$/m);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.doesNotMatch(out, /"level":"error"/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }

  it('serves, then exits 0 on SIGTERM', () => servesThenStops(['--import', 'tsx', MAIN]));

  it('the built bundle (node dist/injector.js, as the image runs it) does the same', async () => {
    await servesThenStops([path.join(await builtDist(), 'injector.js')]);
  });
});
