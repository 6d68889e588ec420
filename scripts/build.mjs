// npm run build: type-check is done by tsc before this; here esbuild bundles the agent and the CLI into
// self-contained CommonJS files in dist/ (smaller start-up and RSS than loading node_modules file by file),
// with build metadata baked in. Every choice below was measured on the shipped Node (BENCHMARKS.md, "Levers"):
//
// - CommonJS, not ESM. On Node >= 22 an ESM import of `node:http` (default or named) builds a facade that
//   reads every export, and three of them are lazy getters that load undici, http2, worker_threads and web
//   streams: +12 MB RSS for a bare server. A CommonJS bundle `require()`s built-ins and never touches them.
//   dist/package.json says "commonjs", so `node dist/main.js` stays the command. test/bundle.test.ts fails if a
//   started agent loads undici.
// - Lazy built-ins: node:https / node:tls are needed only by the API source and the proxy, zlib only when koa
//   destroys a compressed stream; their exports are getters that require() the module on first use.
// - `debug` (koa's and the router's DEBUG=koa* tracing) is a no-op: it loads tty, os and supports-color at start.
// - koa's content-type helpers load all of mime-db (~300 KB of JSON, ~3 MB RSS); the agent only ever names the
//   types in scripts/mime-db.json.
//
//   node scripts/build.mjs                         dist/ (what the image ships)
//   node scripts/build.mjs --outdir=DIR [--no-cjs …]  elsewhere, with levers off (test/bundle.test.ts, bench/levers.ts)
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync, rmSync, chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const require = createRequire(import.meta.url);

/** Each lever on (the shipped build) unless turned off; bench/levers.ts measures them one at a time. */
export const LEVERS = Object.freeze({ cjs: true, lazyBuiltins: true, noDebug: true, slimMimeDb: true });

const LAZY_BUILTINS = ['https', 'tls', 'zlib'];

/** esbuild plugin: `import x from 'node:https'` gets an object of getters that require() it on first use. */
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      // the real module, from inside the stand-in
      args.namespace === 'lazy-builtin' ? { path: args.path, external: true } : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
      const names = Object.keys(require(args.path)).filter((k) => k !== 'default');
      return {
        loader: 'js',
        contents:
          `let m; const load = () => (m ??= require(${JSON.stringify(`node:${args.path}`)}));\n` +
          `const lazy = {};\n` +
          `for (const k of ${JSON.stringify(names)}) Object.defineProperty(lazy, k, { enumerable: true, get: () => load()[k] });\n` +
          `module.exports = lazy;\n`,
      };
    });
  },
};

function gitRevision() {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
}

/** Build dist/main.js, dist/injector.js and dist/cli.js (or into `outdir`); returns the paths. */
export async function buildAll({ outdir = join(ROOT, 'dist'), levers = {}, log = true } = {}) {
  const on = { ...LEVERS, ...levers };
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const version = process.env.PODMETA_VERSION || pkg.version;
  const revision = process.env.PODMETA_REVISION || gitRevision() || 'unknown';
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const alias = {};
  if (on.slimMimeDb) alias['mime-db'] = join(ROOT, 'scripts', 'mime-db.json');
  if (on.noDebug) alias.debug = join(ROOT, 'scripts', 'debug-noop.cjs');
  const common = {
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    format: on.cjs ? 'cjs' : 'esm',
    target: 'node22.12', // the supported floor (package.json engines.node)
    minifySyntax: true,
    minifyWhitespace: true,
    legalComments: 'none',
    logLevel: 'warning',
    define: {
      __PODMETA_VERSION__: JSON.stringify(version),
      __PODMETA_REVISION__: JSON.stringify(revision),
    },
    alias,
    plugins: on.lazyBuiltins ? [lazyBuiltins] : [],
    // an ESM bundle needs require() for the CommonJS dependencies (koa) that call it for Node built-ins
    ...(on.cjs ? {} : { banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" } }),
  };
  const main = join(outdir, 'main.js');
  const cli = join(outdir, 'cli.js');
  const injector = join(outdir, 'injector.js');
  await build({ ...common, entryPoints: ['src/main.ts'], outfile: main });
  await build({ ...common, entryPoints: ['src/injector.ts'], outfile: injector });
  await build({ ...common, entryPoints: ['src/cli.ts'], outfile: cli, banner: { js: '#!/usr/bin/env node\n' + (common.banner?.js ?? '') } });
  chmodSync(cli, 0o755);
  // the repo's package.json says "type": "module"; the bundles' format wins for dist/
  writeFileSync(join(outdir, 'package.json'), JSON.stringify({ type: on.cjs ? 'commonjs' : 'module' }) + '\n');
  if (log) console.log(`built ${main}, ${injector} and ${cli} (podmeta ${version}, revision ${revision}, ${on.cjs ? 'CommonJS' : 'ESM'})`);
  return { main, cli, injector };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // node scripts/build.mjs [--outdir=DIR] [--no-cjs] [--no-lazyBuiltins] [--no-noDebug] [--no-slimMimeDb]
  const args = process.argv.slice(2);
  const levers = {};
  for (const a of args) {
    if (a.startsWith('--no-') && a.slice(5) in LEVERS) levers[a.slice(5)] = false;
    else if (!a.startsWith('--outdir=')) throw new Error(`unknown argument ${a}`);
  }
  const outdir = args.find((a) => a.startsWith('--outdir='))?.slice(9);
  await buildAll({ levers, ...(outdir ? { outdir: resolve(outdir) } : {}) });
}
