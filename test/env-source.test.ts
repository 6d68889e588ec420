import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RESOURCE_ENV_PATTERN, partFromEnv } from '../src/sources/env.js';
import { resourcesFromReadings } from '../src/quantity.js';

describe('partFromEnv', () => {
  it('reads the documented pod / node variables', () => {
    const { part, problems } = partFromEnv({
      POD_NAME: 'downward',
      POD_NAMESPACE: 'default',
      POD_UID: '1d591f87-a2b1-4c3e-9f00-000000000001',
      POD_IP: '10.244.1.38',
      POD_IPS: '10.244.1.38,fd00:10:244:1::26',
      NODE_NAME: 'k8s-node1',
      HOST_IP: '10.10.10.149',
      HOST_IPS: '10.10.10.149',
      SERVICE_ACCOUNT: 'default',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(part, {
      pod: {
        name: 'downward',
        namespace: 'default',
        uid: '1d591f87-a2b1-4c3e-9f00-000000000001',
        ip: '10.244.1.38',
        ips: ['10.244.1.38', 'fd00:10:244:1::26'],
        serviceAccount: 'default',
      },
      node: { name: 'k8s-node1', hostIP: '10.10.10.149', hostIPs: ['10.10.10.149'] },
    });
  });

  it('nothing set → empty part, no problems', () => {
    assert.deepEqual(partFromEnv({}), { part: {}, problems: [] });
  });

  it('empty strings are unset', () => {
    const { part } = partFromEnv({ POD_NAME: '', NODE_NAME: '', SERVICE_ACCOUNT: '', CONTAINER_CPU_LIMIT: '' });
    assert.deepEqual(part, {});
  });

  it('SERVICE_ACCOUNT wins over SERVICE_ACCOUNT_NAME; the first non-empty one is used', () => {
    assert.equal(partFromEnv({ SERVICE_ACCOUNT: 'a', SERVICE_ACCOUNT_NAME: 'b' }).part.pod?.serviceAccount, 'a');
    assert.equal(partFromEnv({ SERVICE_ACCOUNT: '', SERVICE_ACCOUNT_NAME: 'b' }).part.pod?.serviceAccount, 'b');
    assert.equal(partFromEnv({ SERVICE_ACCOUNT_NAME: 'b' }).part.pod?.serviceAccount, 'b');
  });

  it('values are raw and exact (never Go-unquoted)', () => {
    const { part } = partFromEnv({ POD_NAME: '"quoted"\\n', POD_NAMESPACE: ' spaced ' });
    assert.equal(part.pod?.name, '"quoted"\\n');
    assert.equal(part.pod?.namespace, ' spaced ');
  });

  it('ip from the first of ips when only the list is set; never ips from a lone ip', () => {
    const a = partFromEnv({ POD_IPS: '10.0.0.5,fd00::5', HOST_IPS: '192.168.1.2' }).part;
    assert.equal(a.pod?.ip, '10.0.0.5');
    assert.deepEqual(a.pod?.ips, ['10.0.0.5', 'fd00::5']);
    assert.equal(a.node?.hostIP, '192.168.1.2');
    const b = partFromEnv({ POD_IP: '10.0.0.5', HOST_IP: '192.168.1.2' }).part;
    assert.equal(b.pod?.ips, undefined);
    assert.equal(b.node?.hostIPs, undefined);
  });

  it('invalid IPs (e.g. an unexpanded $(VAR) reference) are dropped and reported', () => {
    const { part, problems } = partFromEnv({ POD_IP: '$(POD_IP)', POD_IPS: '10.0.0.1, nope ,', HOST_IP: '300.1.1.1' });
    assert.equal(part.pod?.ip, '10.0.0.1');
    assert.deepEqual(part.pod?.ips, ['10.0.0.1']);
    assert.equal(part.node, undefined);
    assert.deepEqual(
      problems.map((p) => p.variable),
      ['POD_IP', 'POD_IPS', 'HOST_IP'],
    );
    assert.match(problems[0]!.message, /"\$\(POD_IP\)" is not an IP address/);
  });

  it('resource variables: the contract names and unit spellings', () => {
    const { part, problems } = partFromEnv({
      CONTAINER_CPU_REQUEST_MILLICORES: '15',
      CONTAINER_CPU_LIMIT_MILLICORES: '100',
      CONTAINER_MEMORY_REQUEST_MIBIBYTES: '16',
      CONTAINER_MEMORY_LIMIT_KIBIBYTES: '4096',
      CONTAINER_EPHEMERAL_STORAGE_LIMIT_GIBIBYTES: '2',
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(resourcesFromReadings(part.readings ?? []), {
      requests: { cpu: '15m', cpuMillicores: 15, memory: '16Mi', memoryBytes: 16 * 1024 * 1024 },
      limits: {
        cpu: '100m',
        cpuMillicores: 100,
        memory: '4Mi',
        memoryBytes: 4194304,
        ephemeralStorage: '2Gi',
        ephemeralStorageBytes: 2 * 1024 ** 3,
      },
    });
    assert.equal(part.pod, undefined);
  });

  it('no unit = divisor 1; several spellings of the same thing: the finest wins', () => {
    const { part } = partFromEnv({
      CONTAINER_CPU_LIMIT: '1', // cores
      CONTAINER_CPU_LIMIT_MILLICORES: '500',
      CONTAINER_MEMORY_LIMIT_BYTES: '6291456',
      CONTAINER_MEMORY_LIMIT_MiB: '6',
    });
    const res = resourcesFromReadings(part.readings ?? []);
    assert.deepEqual(res.limits, { cpu: '500m', cpuMillicores: 500, memory: '6Mi', memoryBytes: 6291456 });
    assert.equal(part.readings?.length, 4);
  });

  it('bad resource values and unknown units are reported, not read', () => {
    const { part, problems } = partFromEnv({
      CONTAINER_CPU_LIMIT_MILLICORES: '0.5',
      CONTAINER_MEMORY_LIMIT_FURLONGS: '3',
      CONTAINER_MEMORY_REQUEST_BYTES: '-1',
    });
    assert.equal(part.readings, undefined);
    assert.deepEqual(
      problems.map((p) => p.variable),
      ['CONTAINER_CPU_LIMIT_MILLICORES', 'CONTAINER_MEMORY_LIMIT_FURLONGS', 'CONTAINER_MEMORY_REQUEST_BYTES'],
    );
    assert.match(problems[0]!.message, /limits\.cpu: expected a non-negative integer, got "0.5"/);
    assert.match(problems[1]!.message, /unknown unit/);
  });

  it('never reads or returns any other variable (env may hold secrets)', () => {
    const env = {
      PATH: '/usr/bin',
      DB_PASSWORD: 's3cret',
      MY_POD_NAME: 'nope',
      CPU_LIMIT: '4',
      MEMORY_LIMIT: '1024',
      APP_MEMORY_LIMIT_BYTES: '1',
      container_cpu_limit: '1',
      containerCpuLimit: '1',
      CONTAINER_NAME: 'main',
      CONTAINER_CPU: '2',
      CONTAINER_CPU_LIMIT_MILLICORES_EXTRA_1: '3',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
    };
    const { part, problems } = partFromEnv(env);
    assert.deepEqual(part, {});
    assert.deepEqual(problems, []);
    const serialized = JSON.stringify(partFromEnv({ ...env, POD_NAME: 'x' }));
    for (const secret of ['s3cret', '/usr/bin', 'nope', '10.96.0.1']) assert.ok(!serialized.includes(secret), secret);
  });

  it('inherited properties are not read', () => {
    const env = Object.create({ POD_NAME: 'inherited' }) as Record<string, string>;
    assert.deepEqual(partFromEnv(env).part, {});
  });

  it('the resource name pattern', () => {
    for (const ok of [
      'CONTAINER_CPU_REQUEST_MILLICORES',
      'CONTAINER_CPU_LIMIT',
      'CONTAINER_MEM_LIMIT_BYTES',
      'CONTAINER_MEMORY_REQUESTS_MiB',
      'CONTAINER_EPHEMERAL_STORAGE_REQUEST_BYTES',
    ]) {
      assert.ok(RESOURCE_ENV_PATTERN.test(ok), ok);
    }
    for (const no of ['CONTAINER_CPU', 'CPU_LIMIT', 'X_CONTAINER_CPU_LIMIT', 'CONTAINER_CPU_LIMIT_1M', 'CONTAINER_GPU_LIMIT']) {
      assert.ok(!RESOURCE_ENV_PATTERN.test(no), no);
    }
  });
});
