// Wires an ApiSource to a FakeApiServer and a kubelet-style SA dir, recording every part, status, log
// line and metric call, with fast timings. Tear-down is registered on the test context.

import type { TestContext } from 'node:test';
import { createApiSource, type ApiSource, type ApiSourceOptions } from '../../src/apiserver/index.js';
import type { ApiTiming } from '../../src/apiserver/timing.js';
import type { SourcePart, SourceStatus } from '../../src/document.js';
import { createLogger } from '../../src/log.js';
import { FakeApiServer, samplePod, sampleNode, waitFor, type FakeApiServerOptions } from './fake-apiserver.js';
import { fakeJwt, SaDir } from './sa-dir.js';

export const FAST: Partial<ApiTiming> = {
  tokenRefreshMs: 60_000, // long: tests exercise the 401 → re-read path
  backoffInitialMs: 20,
  backoffMaxMs: 100,
  backoffPersistentMaxMs: 200,
  quickFailMs: 50,
  requestTimeoutMs: 2_000,
  labelGraceMs: 100,
  nodeGetIntervalMs: 200,
};

export interface Harness {
  server: FakeApiServer;
  sa: SaDir;
  source: ApiSource;
  token: string;
  parts: { source: 'api' | 'node'; part: SourcePart | undefined }[];
  statuses: { source: 'api' | 'node'; status: SourceStatus }[];
  logs: string[];
  metrics: string[];
  lastPart(source: 'api' | 'node'): SourcePart | undefined;
  lastStatus(source: 'api' | 'node'): SourceStatus | undefined;
  waitPart(source: 'api' | 'node', pred: (p: SourcePart | undefined) => boolean, what?: string): Promise<SourcePart | undefined>;
  waitStatus(source: 'api' | 'node', pred: (s: SourceStatus) => boolean, what?: string): Promise<SourceStatus>;
}

export interface HarnessOptions {
  server?: FakeApiServerOptions;
  timing?: Partial<ApiTiming>;
  source?: Partial<ApiSourceOptions>;
  /** CA written into the SA dir (default: the server's) */
  caPem?: string;
  /** do not put the sample pod / node into the server */
  empty?: boolean;
  /** do not call source.start() */
  noStart?: boolean;
}

export const POD = 'web-5d9c7b8f4-x7k2p';
export const NS = 'default';

export async function harness(t: TestContext, o: HarnessOptions = {}): Promise<Harness> {
  const token = fakeJwt(NS, 'podmeta');
  const server = await FakeApiServer.start({ tokens: [token], ...o.server });
  if (!o.empty) {
    server.putPod(samplePod());
    server.putNode(sampleNode());
  }
  const sa = await SaDir.create({ token, caPem: o.caPem ?? server.caPem, namespace: NS });
  const parts: Harness['parts'] = [];
  const statuses: Harness['statuses'] = [];
  const logs: string[] = [];
  const metrics: string[] = [];
  const source = createApiSource({
    mode: 'on',
    saDir: sa.dir,
    serviceHost: server.host,
    servicePort: server.port,
    podName: POD,
    nodeLabels: ['topology.kubernetes.io/zone', 'topology.kubernetes.io/region', 'node.kubernetes.io/instance-type', 'kubernetes.io/arch', 'kubernetes.io/os'],
    log: createLogger({ level: 'debug', write: (l) => logs.push(l) }),
    onPart: (source, part) => parts.push({ source, part }),
    onStatus: (source, status) => statuses.push({ source, status }),
    metrics: {
      request: (r, v, c) => metrics.push(`request ${r} ${v} ${c}`),
      watchRestart: (r) => metrics.push(`watchRestart ${r}`),
      relist: (r) => metrics.push(`relist ${r}`),
      event: (r, type) => metrics.push(`event ${r} ${type}`),
    },
    timing: { ...FAST, ...o.timing },
    ...o.source,
  });
  t.after(async () => {
    await source.stop();
    await server.close();
    await sa.remove();
  });
  if (!o.noStart) await source.start();
  const lastPart = (s: 'api' | 'node'): SourcePart | undefined => parts.filter((p) => p.source === s).at(-1)?.part;
  const lastStatus = (s: 'api' | 'node'): SourceStatus | undefined => statuses.filter((p) => p.source === s).at(-1)?.status;
  return {
    server,
    sa,
    source,
    token,
    parts,
    statuses,
    logs,
    metrics,
    lastPart,
    lastStatus,
    async waitPart(s, pred, what = `${s} part`) {
      await waitFor(() => parts.some((p) => p.source === s) && pred(lastPart(s)), what);
      return lastPart(s);
    },
    async waitStatus(s, pred, what = `${s} status`) {
      await waitFor(() => {
        const st = lastStatus(s);
        return st !== undefined && pred(st);
      }, what);
      return lastStatus(s)!;
    },
  };
}
