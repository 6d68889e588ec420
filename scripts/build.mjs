// npm run build: type-check is done by tsc before this; here esbuild bundles the agent and the CLI into
// self-contained ESM files in dist/ (smaller start-up and RSS than loading node_modules file by file),
// with build metadata baked in.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, chmodSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const git = (args) => {
  try {
    return execFileSync('git', args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
};
const version = process.env.PODMETA_VERSION || pkg.version;
const revision = process.env.PODMETA_REVISION || git(['rev-parse', '--short=12', 'HEAD']) || 'unknown';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22.12', // the supported floor (package.json engines.node)
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: {
    __PODMETA_VERSION__: JSON.stringify(version),
    __PODMETA_REVISION__: JSON.stringify(revision),
  },
  // koa's content-type helpers (mime-types, twice: koa's and accepts' copies) load all of mime-db, ~300 KB
  // of JSON parsed at start and kept for ever (~3 MB RSS). The agent only ever names these types, so the
  // bundle carries just them (scripts/mime-db.json).
  alias: { 'mime-db': './scripts/mime-db.json' },
  // CommonJS dependencies (koa) call require() for Node built-ins
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
};
await build({ ...common, entryPoints: ['src/main.ts'], outfile: 'dist/main.js' });
await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  banner: { js: '#!/usr/bin/env node\n' + common.banner.js },
});
chmodSync(new URL('../dist/cli.js', import.meta.url), 0o755);
console.log(`built dist/main.js and dist/cli.js (podmeta ${version}, revision ${revision})`);
