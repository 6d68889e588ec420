import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assembleVolumePart, parseVolumeFile, podFieldOf, type VolumeItem } from '../src/sources/volume-parse.js';
import { resourcesFromReadings } from '../src/quantity.js';

const enc = new TextEncoder();
const b = (s: string): Uint8Array => enc.encode(s);

function parseAll(files: Record<string, string | Uint8Array>): Map<string, VolumeItem> {
  const items = new Map<string, VolumeItem>();
  for (const [path, content] of Object.entries(files)) {
    items.set(path, parseVolumeFile(path, typeof content === 'string' ? b(content) : content));
  }
  return items;
}

const LABELS = 'app="web"\ncluster="test-cluster1"\nrack="rack-22"';
const ANNOTATIONS = 'build="two"\nkey1="value1"\nkey2="multi\\nline\\nvalue\\n"\nkubernetes.io/config.source="api"';

describe('podFieldOf', () => {
  it('recognises flat, nested and bare names in any case and separator style', () => {
    const expected: [string, string | undefined][] = [
      ['podName', 'name'],
      ['podNamespace', 'namespace'],
      ['podUid', 'uid'],
      ['podUID', 'uid'],
      ['POD_NAME', 'name'],
      ['pod-namespace', 'namespace'],
      ['pod/name', 'name'],
      ['pod/namespace', 'namespace'],
      ['pod/uid', 'uid'],
      ['pod/labels', 'labels'],
      ['pod/annotations', 'annotations'],
      ['metadata/labels', 'labels'],
      ['metadata.name', 'name'],
      ['pod/metadata/uid', 'uid'],
      ['labels', 'labels'],
      ['annotations', 'annotations'],
      ['podLabels', 'labels'],
      ['podAnnotations', 'annotations'],
      ['name', 'name'],
      ['namespace', 'namespace'],
      ['uid', 'uid'],
      ['nodeName', undefined],
      ['node/labels', undefined],
      ['containerName', undefined],
      ['labels/extra', undefined],
      ['someOtherItem', undefined],
    ];
    for (const [path, field] of expected) assert.equal(podFieldOf(path), field, path);
  });
});

describe('parseVolumeFile', () => {
  it('name / namespace / uid are kept byte-exact (no trimming)', () => {
    assert.deepEqual(parseVolumeFile('podName', b('downward')), { type: 'pod', field: 'name', value: 'downward' });
    assert.deepEqual(parseVolumeFile('pod/namespace', b('default')), { type: 'pod', field: 'namespace', value: 'default' });
    assert.deepEqual(parseVolumeFile('uid', b('1d591f87-a2b1-4c3e-9f00-000000000001')), {
      type: 'pod',
      field: 'uid',
      value: '1d591f87-a2b1-4c3e-9f00-000000000001',
    });
    assert.deepEqual(parseVolumeFile('podName', b(' x \n')), { type: 'pod', field: 'name', value: ' x \n' });
  });

  it('an empty name file is an error (names cannot be empty), so the last good value is kept', () => {
    const item = parseVolumeFile('podName', new Uint8Array(0));
    assert.equal(item.type, 'error');
    assert.match((item as { message: string }).message, /podName: empty file/);
  });

  it('labels and annotations are parsed as kubelet FormatMap files', () => {
    assert.deepEqual(parseVolumeFile('labels', b(LABELS)), {
      type: 'map',
      field: 'labels',
      value: { app: 'web', cluster: 'test-cluster1', rack: 'rack-22' },
    });
    const ann = parseVolumeFile('pod/annotations', b(ANNOTATIONS));
    assert.equal(ann.type, 'map');
    assert.equal((ann as { value: Record<string, string> }).value.key2, 'multi\nline\nvalue\n');
    assert.deepEqual(parseVolumeFile('podLabels', new Uint8Array(0)), { type: 'map', field: 'labels', value: {} });
  });

  it('a malformed labels file → error with a clear message naming the path and line', () => {
    const item = parseVolumeFile('labels', b('app="web"\nbroken="unterminated'));
    assert.equal(item.type, 'error');
    const { message } = item as { message: string };
    assert.match(message, /^labels: malformed labels file: line 2: value of key "broken": unterminated string/);
    const item2 = parseVolumeFile('pod/annotations', b('no-equals-sign'));
    assert.match((item2 as { message: string }).message, /pod\/annotations: malformed annotations file: line 1: .*no '='/);
  });

  it('resources: flat and nested names → readings in base units', () => {
    assert.deepEqual(parseVolumeFile('containerCpuRequestMilliCores', b('15')), {
      type: 'resource',
      reading: { kind: 'cpu', side: 'requests', base: 15, granularity: 1 },
    });
    assert.deepEqual(parseVolumeFile('containerMemoryLimitBytes', b('6291456')), {
      type: 'resource',
      reading: { kind: 'memory', side: 'limits', base: 6291456, granularity: 1 },
    });
    assert.deepEqual(parseVolumeFile('requests/cpu', b('1')), {
      type: 'resource',
      reading: { kind: 'cpu', side: 'requests', base: 1000, granularity: 1000 },
    });
    assert.deepEqual(parseVolumeFile('limits/memory', b('4194304')), {
      type: 'resource',
      reading: { kind: 'memory', side: 'limits', base: 4194304, granularity: 1 },
    });
    assert.deepEqual(parseVolumeFile('mem_limit', b('134217728')), {
      type: 'resource',
      reading: { kind: 'memory', side: 'limits', base: 134217728, granularity: 1 },
    });
    assert.deepEqual(parseVolumeFile('limits/ephemeral-storage', b('2147483648')), {
      type: 'resource',
      reading: { kind: 'ephemeral-storage', side: 'limits', base: 2147483648, granularity: 1 },
    });
  });

  it('a resource file that is not an integer → error naming the path', () => {
    const item = parseVolumeFile('cpu_limit', b('500m'));
    assert.equal(item.type, 'error');
    assert.match((item as { message: string }).message, /^cpu_limit: limits\.cpu: expected a non-negative integer, got "500m"/);
  });

  it('unrecognised files are served raw (UTF-8 decoded, bytes kept)', () => {
    assert.deepEqual(parseVolumeFile('someOtherItem', b('raw text\n')), { type: 'file', value: 'raw text\n' });
    assert.deepEqual(parseVolumeFile('extra/thing', b('é')), { type: 'file', value: 'é' });
    assert.deepEqual(parseVolumeFile('node/labels', b('a="b"')), { type: 'file', value: 'a="b"' });
    assert.deepEqual(parseVolumeFile('bin', Uint8Array.of(0xff)), { type: 'file', value: '\ufffd' });
  });

  it('internal or empty paths are errors', () => {
    for (const p of ['..data', '..2026_11_22_10_15_03.3171958474/labels', 'pod/..data', '', 'a//b', '/abs']) {
      assert.equal(parseVolumeFile(p, b('x')).type, 'error', p);
    }
  });
});

describe('assembleVolumePart', () => {
  it('flat layout (as in the Kubernetes docs and real pods)', () => {
    const items = parseAll({
      podName: 'downward',
      podNamespace: 'default',
      podUid: '1d591f87-0000',
      labels: LABELS,
      annotations: ANNOTATIONS,
      containerCpuRequestMilliCores: '15',
      containerCpuLimitMilliCores: '100',
      containerMemoryRequestBytes: '102400',
      containerMemoryLimitKibibytes: '4096',
      someOtherItem: 'raw text',
    });
    const part = assembleVolumePart(items);
    assert.deepEqual(part.pod, {
      name: 'downward',
      namespace: 'default',
      uid: '1d591f87-0000',
      labels: { app: 'web', cluster: 'test-cluster1', rack: 'rack-22' },
      annotations: { build: 'two', key1: 'value1', key2: 'multi\nline\nvalue\n', 'kubernetes.io/config.source': 'api' },
    });
    assert.deepEqual(part.files, { someOtherItem: 'raw text' });
    assert.equal(part.node, undefined);
    assert.deepEqual(resourcesFromReadings(part.readings ?? []), {
      requests: { cpu: '15m', cpuMillicores: 15, memory: '100Ki', memoryBytes: 102400 },
      limits: { cpu: '100m', cpuMillicores: 100, memory: '4Mi', memoryBytes: 4194304 },
    });
  });

  it('nested layout', () => {
    const items = parseAll({
      'pod/name': 'web-5d9c7b8f4-abcde',
      'pod/namespace': 'prod',
      'pod/uid': 'u-1',
      'pod/labels': 'app="web"',
      'pod/annotations': '',
      'requests/cpu': '1',
      'requests/memory': '16777216',
      'limits/cpu': '2',
      'limits/memory': '6291456',
      'extra/thing': 'x',
    });
    const part = assembleVolumePart(items);
    assert.deepEqual(part.pod, {
      name: 'web-5d9c7b8f4-abcde',
      namespace: 'prod',
      uid: 'u-1',
      labels: { app: 'web' },
      annotations: {},
    });
    assert.deepEqual(part.files, { 'extra/thing': 'x' });
    assert.deepEqual(resourcesFromReadings(part.readings ?? []), {
      requests: { cpu: '1', cpuMillicores: 1000, memory: '16Mi', memoryBytes: 16777216 },
      limits: { cpu: '2', cpuMillicores: 2000, memory: '6Mi', memoryBytes: 6291456 },
    });
  });

  it('errors are skipped; empty sections are absent', () => {
    const items = parseAll({ labels: 'bad', podName: '' });
    assert.deepEqual(assembleVolumePart(items), {});
    assert.deepEqual(assembleVolumePart(new Map()), {});
  });

  it('does not depend on insertion order; same field twice → first path in byte order wins', () => {
    const a = parseAll({ podName: 'flat', 'pod/name': 'nested', 'requests/cpu': '1', cpu_request_millicores: '250' });
    const reversed = new Map([...a].reverse());
    assert.deepEqual(assembleVolumePart(a), assembleVolumePart(reversed));
    assert.equal(assembleVolumePart(a).pod?.name, 'nested'); // "pod/name" < "podName" ('/' is 0x2f, 'N' 0x4e)
    // the finer cpu reading wins when merged
    assert.equal(resourcesFromReadings(assembleVolumePart(a).readings ?? []).requests?.cpu, '250m');
  });

  it('a file called __proto__ is an own key of files', () => {
    const items = new Map<string, VolumeItem>([['__proto__', parseVolumeFile('__proto__', b('x'))]]);
    const files = assembleVolumePart(items).files!;
    assert.ok(Object.hasOwn(files, '__proto__'));
    assert.equal(JSON.stringify(files), '{"__proto__":"x"}');
  });
});

describe('invalid UTF-8 (the documented rule: one U+FFFD per maximal subpart, as TextDecoder)', () => {
  const raw = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
  it('a truncated sequence is one U+FFFD, each stray byte one', () => {
    assert.deepEqual(parseVolumeFile('note', raw(0xe2, 0x82)), { type: 'file', value: '\ufffd' });
    assert.deepEqual(parseVolumeFile('note', raw(0xe2, 0x82, 0x41)), { type: 'file', value: '\ufffdA' });
    assert.deepEqual(parseVolumeFile('note', raw(0xff, 0xfe)), { type: 'file', value: '\ufffd\ufffd' });
    assert.deepEqual(parseVolumeFile('note', raw(0xf0, 0x9f, 0x98, 0xff)), { type: 'file', value: '\ufffd\ufffd' });
    // a surrogate encoded in UTF-8 (ED A0 80) is three maximal subparts: ED is valid only before 80..9F
    assert.deepEqual(parseVolumeFile('note', raw(0xed, 0xa0, 0x80)), { type: 'file', value: '\ufffd\ufffd\ufffd' });
  });
  it('the same rule inside a Go-quoted label value (`\\x` escapes are bytes, decoded once at the end)', () => {
    const item = parseVolumeFile('labels', b('a="\\xe2\\x82"\nb="\\xe2\\x82\\xac"\nc="\\xff\\xfe"'));
    assert.deepEqual(item, { type: 'map', field: 'labels', value: { a: '\ufffd', b: '€', c: '\ufffd\ufffd' } });
  });
});
