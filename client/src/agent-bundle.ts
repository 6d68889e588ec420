// The repo's own agent, for @podmeta/client/testing only: client/scripts/build.mjs bundles this file (with
// the agent's dependencies) into dist/agent-bundle.js; in this repo, under tsx, it is loaded from source.
// The library itself (index.ts) never loads it: the main entry stays zero-dependency.
export { Agent } from '../../src/agent.js';
export { parseConfig } from '../../src/config.js';
export { createLogger } from '../../src/log.js';
export { KubeletVolume, formatMap } from '../../test/support/kubelet-volume.js';
