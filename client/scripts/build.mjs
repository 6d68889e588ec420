// npm run build:client — client/dist: the types regenerated from src/document.ts, the library compiled by
// tsc (JS + .d.ts, no dependencies), and the test kit's agent (the repo's own agent, bundled by esbuild
// into one file that only `@podmeta/client/testing` loads).
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
// the agent bundle targets the repo's supported Node floor (root package.json engines)
const floor = /(\d+)\.(\d+)/.exec(JSON.parse(readFileSync(here('../../package.json'), 'utf8')).engines.node);
execFileSync(process.execPath, [here('./gen-types.mjs')], { stdio: 'inherit' });
rmSync(here('../dist'), { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', here('../tsconfig.json')], { stdio: 'inherit' });
await build({
  entryPoints: [here('../src/agent-bundle.ts')],
  outfile: here('../dist/agent-bundle.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: `node${floor[1]}.${floor[2]}`,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  alias: { 'mime-db': here('../../scripts/mime-db.json') },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
console.log('built client/dist (@podmeta/client)');
