// npm run demo — the agent on an embedded default: a sample downwardAPI volume written exactly as kubelet
// writes it, sample downward env values, and a built-in "kubelet" that changes a label every few seconds.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from '../src/agent.js';
import { parseConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { KubeletVolume, formatMap } from '../test/support/kubelet-volume.js';

const EVERY_MS = Number(process.env.DEMO_INTERVAL_MS ?? 3000);

const labels = (tick: number): Record<string, string> => ({
  app: 'web',
  'app.kubernetes.io/name': 'web',
  'pod-template-hash': '5d9c7b8f4',
  'demo/tick': String(tick),
});
const annotations = {
  'kubernetes.io/config.seen': '2026-11-22T10:15:03.317195847Z',
  'kubernetes.io/config.source': 'api',
  note: 'multi\nline\nvalue\n',
  'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"v1","kind":"Pod"}',
};

function files(tick: number): Record<string, string> {
  return {
    podName: 'web-5d9c7b8f4-x2x7k',
    podNamespace: 'default',
    podUid: '1d591f87-4d4b-4b2a-9c3e-6a7f0b3c2d1e',
    labels: formatMap(labels(tick)),
    annotations: formatMap(annotations),
    containerCpuRequestMilliCores: '15',
    containerCpuLimitMilliCores: '100',
    containerMemoryRequestKibibytes: '100',
    containerMemoryLimitBytes: '4194304',
  };
}

const env = {
  POD_NAME: 'web-5d9c7b8f4-x2x7k',
  POD_NAMESPACE: 'default',
  POD_IP: '10.244.1.38',
  POD_IPS: '10.244.1.38,fd00:10:244:1::26',
  NODE_NAME: 'k8s-node1',
  HOST_IP: '10.10.10.149',
  HOST_IPS: '10.10.10.149',
  SERVICE_ACCOUNT: 'default',
};

const dir = await mkdtemp(join(tmpdir(), 'podmeta-demo-'));
const volume = await KubeletVolume.create(dir, files(0));
const config = parseConfig({
  PODMETA_LISTEN: process.env.PODMETA_LISTEN ?? '127.0.0.1:9977',
  PODMETA_PROBE_LISTEN: process.env.PODMETA_PROBE_LISTEN ?? '127.0.0.1:9978',
  PODMETA_DOWNWARD_DIR: dir,
  PODMETA_API: 'off',
  PODMETA_LOG_LEVEL: process.env.PODMETA_LOG_LEVEL ?? 'info',
});
const agent = new Agent({ config, env, log: createLogger({ level: config.logLevel }) });
const addr = await agent.start().catch((err: NodeJS.ErrnoException) => {
  process.stderr.write(
    err.code === 'EADDRINUSE'
      ? `podmeta demo: ${err.message} — another agent or demo is running; set PODMETA_LISTEN / PODMETA_PROBE_LISTEN (e.g. 127.0.0.1:0)\n`
      : `podmeta demo: ${err.message}\n`,
  );
  void rm(dir, { recursive: true, force: true }).then(() => process.exit(1));
  return new Promise<never>(() => {});
});

let tick = 0;
const kubelet = setInterval(() => {
  tick++;
  void volume.update(files(tick));
}, EVERY_MS);

const m = `http://${addr.metadata}`;
process.stderr.write(`
podmeta demo — a sample downwardAPI volume at ${dir}; its label demo/tick changes every ${EVERY_MS / 1000} s.

  metadata   ${m}/metadata          (send the header  Metadata: true)
  events     ${m}/events
  status     ${m}/status
  probes     http://${addr.probe}/readyz   http://${addr.probe}/metrics

try:
  curl -sH 'Metadata: true' ${m}/metadata
  curl -sH 'Metadata: true' '${m}/metadata/pod/labels?format=text'
  curl -sNH 'Metadata: true' ${m}/events

Ctrl-C stops.
`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) process.exit(1);
  stopping = true;
  clearInterval(kubelet);
  await agent.shutdown();
  await rm(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
