// The repo's own agent, for @podmeta/client/testing only: client/scripts/build.mjs bundles this file (with
// the agent's dependencies) into dist/agent-bundle.js; in this repo, under tsx, it is loaded from source.
// Only src/ may be imported here: `npm run build` runs in the image's build stage, which has no test/.
// The library itself (index.ts) never loads it: the main entry stays zero-dependency.
export { Agent } from '../../src/agent.js';
export { parseConfig } from '../../src/config.js';
export { createLogger } from '../../src/log.js';
export { quoteGo } from '../../src/goformat.js';
