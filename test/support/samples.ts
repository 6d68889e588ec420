// Sample downward env and volume contents (the contract's `downward` pod).
import { formatMap, type Payload } from './kubelet-volume.js';

export const SAMPLE_ENV = {
  POD_NAME: 'downward',
  POD_NAMESPACE: 'default',
  POD_IP: '10.244.1.38',
  POD_IPS: '10.244.1.38',
  NODE_NAME: 'k8s-node1',
  HOST_IP: '10.10.10.149',
  SERVICE_ACCOUNT: 'default',
};

export function sampleFiles(labels: Record<string, string> = { foo: 'bar' }, extra: Payload = {}): Payload {
  return {
    podName: 'downward',
    podNamespace: 'default',
    podUid: '1d591f87-0000-4000-8000-000000000001',
    labels: formatMap(labels),
    annotations: formatMap({ key1: 'value1', key2: 'multi\nline\nvalue\n' }),
    containerCpuRequestMilliCores: '15',
    containerMemoryLimitKibibytes: '4096',
    ...extra,
  };
}

