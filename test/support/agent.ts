// Start a real agent in-process on loopback ephemeral ports, with a kubelet-style volume in a temp dir.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Agent, type AgentOptions } from '../../src/agent.js';
import { parseConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/log.js';
import { KubeletVolume, type Payload } from './kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './samples.js';
export { SAMPLE_ENV, sampleFiles } from './samples.js';
export { eventually } from './wait.js';

export interface TestAgent {
  agent: Agent;
  dir: string;
  volume: KubeletVolume | undefined;
  base: string;
  probe: string;
  proxy: string | undefined;
  logs: Record<string, unknown>[];
  /** fetch on the metadata port with `Metadata: true` */
  get(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  files?: Payload | null;
  config?: Record<string, string>;
  agent?: Partial<Omit<AgentOptions, 'config' | 'env' | 'log'>>;
  log?: Logger;
}

export async function startAgent(t: TestContext | undefined, opts: StartOptions = {}): Promise<TestAgent> {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-test-'));
  const dir = join(root, 'podinfo');
  const volume = opts.files === null ? undefined : await KubeletVolume.create(dir, opts.files ?? sampleFiles());
  const config = parseConfig({
    PODMETA_LISTEN: '127.0.0.1:0',
    PODMETA_PROBE_LISTEN: '127.0.0.1:0',
    PODMETA_DOWNWARD_DIR: dir,
    PODMETA_API: 'off',
    PODMETA_SA_DIR: join(root, 'sa-missing'),
    PODMETA_LOG_LEVEL: 'debug',
    ...opts.config,
  });
  const logs: Record<string, unknown>[] = [];
  const log = opts.log ?? createLogger({ level: 'debug', write: (l) => void logs.push(JSON.parse(l) as Record<string, unknown>) });
  const agent = new Agent({ config, env: opts.env ?? SAMPLE_ENV, log, defaultMetrics: false, keepAliveMs: 200, ...opts.agent });
  const addr = await agent.start();
  const base = `http://${addr.metadata}`;
  let stopped = false;
  const ta: TestAgent = {
    agent,
    dir,
    volume,
    base,
    probe: `http://${addr.probe}`,
    proxy: addr.proxy ? `http://${addr.proxy}` : undefined,
    logs,
    get: (path, init = {}) =>
      fetch(base + path, { ...init, headers: { Metadata: 'true', ...(init.headers as Record<string, string> | undefined) } }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await agent.shutdown();
      await rm(root, { recursive: true, force: true });
    },
  };
  t?.after(() => ta.stop());
  return ta;
}
