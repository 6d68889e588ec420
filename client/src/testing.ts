// @podmeta/client/testing — a REAL podmeta agent in-process for an app's tests: loopback, an ephemeral
// port, a temporary downwardAPI volume written the way kubelet writes it (timestamped dir + `..data`
// swap), and setters that change labels/annotations and resolve once the agent serves the new values.
// It loads the agent bundled into this package (dist/agent-bundle.js, built from the podmeta repo), so
// it needs Node only; it is not loaded by the main entry.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type PodmetaClient } from './client.js';
import { deepEqual } from './values.js';
import { writeVolume } from './kubelet-writer.js';

export interface TestPodmetaOptions {
  /** pod labels (the volume's `labels` file); default {} */
  labels?: Record<string, string>;
  /** pod annotations (the volume's `annotations` file); default {} */
  annotations?: Record<string, string>;
  /** identity in the volume; defaults: name `test-pod`, namespace `default`, a fixed uid */
  pod?: { name?: string; namespace?: string; uid?: string };
  /** downward env as the pod spec would set it (POD_IP, NODE_NAME, CONTAINER_CPU_REQUEST_MILLICORES, …) */
  env?: Record<string, string>;
  /** more volume files (e.g. `containerMemoryLimitBytes`, or anything served under `files`) */
  files?: Record<string, string>;
  /** the agent's SSE keep-alive interval (default 15000 ms, as in production) */
  keepAliveMs?: number;
  /** the agent's `retry:` hint to SSE clients, ms (default 2000) */
  retryMs?: number;
  /** write the agent's JSON log lines here (default: dropped) */
  log?: (line: string) => void;
}

export interface TestPodmeta {
  /** the agent's base URL (http://127.0.0.1:<port>) */
  readonly url: string;
  /** the temporary volume directory */
  readonly dir: string;
  /** a client for this agent */
  readonly client: PodmetaClient;
  /** replace the labels (a kubelet-style volume update); resolves when the agent serves them */
  setLabels(labels: Record<string, string>): Promise<void>;
  /** replace the annotations; resolves when the agent serves them */
  setAnnotations(annotations: Record<string, string>): Promise<void>;
  /** stop the agent and remove the volume */
  stop(): Promise<void>;
}

/** What the kit uses of the agent module (checked against the real one by test/client-testing.test.ts). */
// the agent's config and logger objects only pass through the kit, from one agent function to another
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Opaque = any;

export interface AgentModule {
  Agent: new (o: { config: Opaque; env: Record<string, string>; log: Opaque; defaultMetrics?: boolean; keepAliveMs?: number; retryMs?: number }) => {
    start(): Promise<{ metadata: string }>;
    shutdown(): Promise<void>;
  };
  parseConfig(env: Record<string, string>): Opaque;
  createLogger(o: { level: 'debug' | 'info' | 'warn' | 'error'; write: (line: string) => void }): Opaque;
  quoteGo(s: string): string;
}

/** kubelet's FormatMap: `key="value"` (Go-quoted) lines, keys sorted byte-wise, no trailing newline. */
function formatMap(m: Record<string, string>, quote: (s: string) => string): string {
  return Object.keys(m)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .map((k) => `${k}=${quote(m[k]!)}`)
    .join('\n');
}

// not a literal import: the library's compiler must not follow it into the agent's sources
const AGENT_MODULE = './agent-bundle.js';

/** Start a real podmeta agent for a test. Call `stop()` when done (e.g. in `after`). */
export async function startPodmeta(o: TestPodmetaOptions = {}): Promise<TestPodmeta> {
  const m = (await import(AGENT_MODULE)) as AgentModule;
  const root = await mkdtemp(join(tmpdir(), 'podmeta-testing-'));
  const dir = join(root, 'podinfo');
  let labels = { ...o.labels };
  let annotations = { ...o.annotations };
  const payload = (): Record<string, string> => ({
    podName: o.pod?.name ?? 'test-pod',
    podNamespace: o.pod?.namespace ?? 'default',
    podUid: o.pod?.uid ?? '00000000-0000-4000-8000-000000000000',
    labels: formatMap(labels, m.quoteGo),
    annotations: formatMap(annotations, m.quoteGo),
    ...o.files,
  });
  await writeVolume(dir, payload());
  const config = m.parseConfig({
    PODMETA_LISTEN: '127.0.0.1:0',
    PODMETA_PROBE_LISTEN: '127.0.0.1:0',
    PODMETA_DOWNWARD_DIR: dir,
    PODMETA_API: 'off',
    PODMETA_SA_DIR: join(root, 'no-service-account'),
    PODMETA_ANNOTATIONS_EXCLUDE: '',
    PODMETA_LOG_LEVEL: o.log ? 'debug' : 'error',
  });
  const agent = new m.Agent({
    config,
    env: { ...o.env },
    log: m.createLogger({ level: o.log ? 'debug' : 'error', write: o.log ?? (() => {}) }),
    defaultMetrics: false,
    ...(o.keepAliveMs !== undefined ? { keepAliveMs: o.keepAliveMs } : {}),
    ...(o.retryMs !== undefined ? { retryMs: o.retryMs } : {}),
  });
  let addr: { metadata: string };
  try {
    addr = await agent.start();
  } catch (err) {
    await rm(root, { recursive: true, force: true });
    throw err;
  }
  const url = `http://${addr.metadata}`;
  const client = createClient({ url });
  const served = async (path: 'pod/labels' | 'pod/annotations', want: Record<string, string>): Promise<void> => {
    const end = Date.now() + 10_000;
    for (;;) {
      const now = await client.get(path).catch(() => undefined);
      if (deepEqual(now ?? {}, want)) return;
      if (Date.now() > end) throw new Error(`podmeta did not serve the new ${path} within 10 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  let stopped = false;
  return {
    url,
    dir,
    client,
    async setLabels(next) {
      labels = { ...next };
      await writeVolume(dir, payload());
      await served('pod/labels', labels);
    },
    async setAnnotations(next) {
      annotations = { ...next };
      await writeVolume(dir, payload());
      await served('pod/annotations', annotations);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      client.close();
      await agent.shutdown();
      await rm(root, { recursive: true, force: true });
    },
  };
}
