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
// - Lazy crypto: koa's cookies (keygrip, tsscmp) require node:crypto at load time, but only use it when a
//   signed cookie is read or written, which no podmeta route does; the store's ETags are a JS hash (src/etag.ts).
//   So an idle agent with the API off never loads crypto (≈ 2 MB RSS); https loads it when the API is on.
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
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const require = createRequire(import.meta.url);

/** Each lever on (the shipped build) unless turned off; bench/levers.ts measures them one at a time. */
export const LEVERS = Object.freeze({ cjs: true, lazyBuiltins: true, lazyCrypto: true, lazyKoaDeps: true, callbackFs: true, noDebug: true, slimMimeDb: true });

const LAZY_BUILTINS = ['https', 'tls', 'zlib', 'http2'];
/** what koa loads at require time and calls only on rare paths (assert: only when an assertion fails) */
const KOA_BUILTINS = ['assert', 'v8'];

/** The stand-in's own members (its value when a function); every other export is a getter that loads the module. */
const OWN = {
  // koa asserts on every status it sets; a true assertion needs nothing of node:assert
  assert: 'function assert(...a) { if (a.length > 0 && a[0]) return; return load()(...a); }',
  // chokidar and readdirp call these at start-up: node:fs's callback API gives the same Stats / Dirent / paths
  // and errors, without node:fs/promises and the readline and stream modules it loads
  'fs/promises': `(() => {
    const fs = require("node:fs");
    const cb = (fn) => (...args) => new Promise((resolve, reject) => fn(...args, (err, v) => (err ? reject(err) : resolve(v))));
    return { stat: cb(fs.stat), lstat: cb(fs.lstat), readdir: cb(fs.readdir), realpath: cb(fs.realpath.native) };
  })()`,
};

/**
 * esbuild plugin: `import x from 'node:https'` (or `require('https')`) gets a stand-in whose exports are getters
 * that require() the module on first use (with the few members of OWN done without it). `lazyDeps` (package
 * names) are bundled as usual but evaluated at their first call instead of at start-up: koa's `destroy` reads
 * `fs.ReadStream` at load time, which loads node:fs's stream module.
 */
export const lazyBuiltins = (modules = LAZY_BUILTINS, lazyDeps = []) => ({
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${modules.join('|')})$`);
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
          `const lazy = ${OWN[args.path] ?? '{}'};\n` +
          `for (const k of ${JSON.stringify(names)}) if (!Object.hasOwn(lazy, k)) Object.defineProperty(lazy, k, { enumerable: true, get: () => load()[k] });\n` +
          `module.exports = lazy;\n`,
      };
    });
    if (lazyDeps.length === 0) return;
    b.onResolve({ filter: new RegExp(`^(${lazyDeps.join('|')})$`) }, (args) =>
      args.namespace === 'lazy-dep' ? undefined : { path: relative(ROOT, require.resolve(args.path, { paths: [args.resolveDir] })), namespace: 'lazy-dep' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-dep' }, (args) => ({
      loader: 'js',
      resolveDir: ROOT,
      // the package exports one function (checked: koa's `destroy`)
      contents: `module.exports = function lazy(...a) { return require(${JSON.stringify(`./${args.path}`)})(...a); };\n`,
    }));
  },
});

function gitRevision() {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
}

/** Build dist/main.js, dist/injector.js and dist/cli.js (or into `outdir`), and `<name>.js` for each of `entries`
 * (name → source file, with the same options: test/bundle.test.ts); returns the paths. */
export async function buildAll({ outdir = join(ROOT, 'dist'), levers = {}, log = true, entries = {} } = {}) {
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
    plugins: [
      lazyBuiltins(
        [...(on.lazyBuiltins ? LAZY_BUILTINS : []), ...(on.lazyCrypto ? ['crypto'] : []), ...(on.lazyKoaDeps ? KOA_BUILTINS : []), ...(on.callbackFs ? ['fs/promises'] : [])],
        on.lazyKoaDeps ? ['destroy'] : [],
      ),
    ],
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
  for (const [name, entry] of Object.entries(entries)) await build({ ...common, entryPoints: [entry], outfile: join(outdir, `${name}.js`) });
  // the repo's package.json says "type": "module"; the bundles' format wins for dist/
  writeFileSync(join(outdir, 'package.json'), JSON.stringify({ type: on.cjs ? 'commonjs' : 'module' }) + '\n');
  if (log) console.log(`built ${main}, ${injector} and ${cli} (podmeta ${version}, revision ${revision}, ${on.cjs ? 'CommonJS' : 'ESM'})`);
  return { main, cli, injector };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // node scripts/build.mjs [--outdir=DIR] [--no-<lever> …] (LEVERS) [--entry=NAME=FILE …]
  const args = process.argv.slice(2);
  const levers = {};
  const entries = {};
  for (const a of args) {
    if (a.startsWith('--no-') && a.slice(5) in LEVERS) levers[a.slice(5)] = false;
    else if (a.startsWith('--entry=') && a.includes('=', 8)) entries[a.slice(8, a.indexOf('=', 8))] = a.slice(a.indexOf('=', 8) + 1);
    else if (!a.startsWith('--outdir=')) throw new Error(`unknown argument ${a}`);
  }
  const outdir = args.find((a) => a.startsWith('--outdir='))?.slice(9);
  await buildAll({ levers, entries, ...(outdir ? { outdir: resolve(outdir) } : {}) });
}
