import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { Store, HISTORY_MIN_BYTES } from '../src/store.js';
import { diff, subValueChange, rebasePatch, pointerOf } from '../src/jsonpatch.js';
import { resolveKeys, splitPath, selectValue, toText, renderRaw, RENDER_CACHE_ENTRIES } from '../src/select.js';
import { quoteGo } from '../src/goformat.js';
import { goQuote } from './support/goquote-encode.js';

const apply = (doc: unknown, patch: unknown): unknown =>
  jsonpatch.applyPatch(structuredClone(doc), patch as jsonpatch.Operation[], true, false).newDocument;

test('diff: applying the patch to a gives b (random JSON, keys with / and ~)', () => {
  // fast-json-patch (the independent applier) refuses `__proto__` as a prototype-pollution guard
  const key = fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('a/b', '~', '~1', '/', '')).filter((k) => k !== '__proto__');
  const json = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.boolean(), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true })),
  })).value;
  const obj = fc.dictionary(key, json, { maxKeys: 5, noNullPrototype: true });
  fc.assert(
    fc.property(obj, obj, (a, b) => {
      assert.deepEqual(apply(a, diff(a, b)), b);
      assert.deepEqual(diff(a, a), []);
    }),
    { numRuns: 500 },
  );
});

test('subValueChange: add / remove / replace of a selected part', () => {
  assert.deepEqual(subValueChange(undefined, { a: '1' }), [{ op: 'add', path: '', value: { a: '1' } }]);
  assert.deepEqual(subValueChange({ a: '1' }, undefined), [{ op: 'remove', path: '' }]);
  assert.deepEqual(subValueChange('x', 'y'), [{ op: 'replace', path: '', value: 'y' }]);
  assert.deepEqual(subValueChange({ 'a/b': '1' }, { 'a/b': '2' }), [{ op: 'replace', path: '/a~1b', value: '2' }]);
});

test('store: revision +1 per real change only; frozen snapshots; buffered changes', () => {
  const s = new Store({ annotationsExclude: ['drop', 'x/*'], bufferSize: 3 });
  assert.equal(s.current.revision, 0);
  const seen: number[] = [];
  s.subscribe((c) => seen.push(c.revision));
  s.setPart('downward', { pod: { name: 'p', labels: { a: '1' }, annotations: { keep: '1', drop: '2', 'x/y': '3' } } });
  assert.equal(s.current.revision, 1);
  assert.deepEqual(s.current.doc.pod.annotations, { keep: '1' });
  assert.equal(s.setPart('downward', { pod: { name: 'p', labels: { a: '1' }, annotations: { keep: '1', drop: 'changed' } } }), undefined, 'an excluded annotation changing is no change');
  assert.equal(s.current.revision, 1);
  assert.ok(Object.isFrozen(s.current.doc.pod.labels));
  assert.equal(JSON.parse(s.current.body.toString()).revision, 1);
  for (let i = 2; i <= 6; i++) s.setPart('downward', { pod: { name: 'p', labels: { a: String(i) } } });
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(s.changesSince(5)!.map((c) => c.revision), [6]);
  assert.deepEqual(s.changesSince(3)!.map((c) => c.revision), [4, 5, 6]);
  assert.equal(s.changesSince(2), undefined, 'no longer buffered');
  assert.equal(s.changesSince(99), undefined);
  assert.deepEqual(s.changesSince(6), []);
});

test('store merge: API labels win while present; env identity first; finer resource wins', () => {
  const s = new Store();
  s.setParts({
    env: { pod: { name: 'env-name', ip: '10.0.0.1' }, readings: [{ kind: 'cpu', side: 'requests', base: 1000, granularity: 1000 }] },
    downward: { pod: { name: 'vol-name', labels: { src: 'volume' } }, readings: [{ kind: 'cpu', side: 'requests', base: 15, granularity: 1 }] },
  });
  assert.equal(s.current.doc.pod.name, 'env-name');
  assert.deepEqual(s.current.doc.resources.requests, { cpu: '15m', cpuMillicores: 15 });
  assert.deepEqual(s.current.doc.pod.labels, { src: 'volume' });
  s.setPart('api', { pod: { labels: { src: 'api' }, phase: 'Running' } });
  assert.deepEqual(s.current.doc.pod.labels, { src: 'api' });
  s.setPart('api', { pod: { phase: 'Running' } }); // watch unhealthy: labels dropped by the source
  assert.deepEqual(s.current.doc.pod.labels, { src: 'volume' });
  assert.equal(s.current.doc.pod.phase, 'Running');
});

test('status: since changes only with the state', () => {
  let t = 0;
  const s = new Store({ now: () => new Date(Date.UTC(2026, 0, 1, 0, 0, t++)) });
  s.setStatus('downward', { state: 'ok' });
  const since = s.statuses.downward.since;
  s.setStatus('downward', { state: 'ok', detail: { files: 3 } });
  assert.equal(s.statuses.downward.since, since);
  s.setStatus('downward', { state: 'missing', error: { message: 'm', hint: 'h' } });
  assert.notEqual(s.statuses.downward.since, since);
});

test('paths: the map rule, %2F, arrays by index and containers by name', () => {
  assert.deepEqual(resolveKeys(splitPath('/pod/labels/app.kubernetes.io/name')), ['pod', 'labels', 'app.kubernetes.io/name']);
  assert.deepEqual(resolveKeys(splitPath('pod/labels/a%2Fb')), ['pod', 'labels', 'a/b']);
  assert.deepEqual(resolveKeys(splitPath('node/labels/topology.kubernetes.io/zone')), ['node', 'labels', 'topology.kubernetes.io/zone']);
  assert.deepEqual(resolveKeys(splitPath('files/extra/thing')), ['files', 'extra/thing']);
  assert.deepEqual(resolveKeys(splitPath('/')), []);
  const doc = { pod: { containers: [{ name: 'main', image: 'x' }], ips: ['a', 'b'] } };
  assert.equal(selectValue(doc, ['pod', 'containers', 'main', 'image']).value, 'x');
  assert.equal(selectValue(doc, ['pod', 'ips', '1']).value, 'b');
  assert.equal(selectValue(doc, ['pod', 'ips', '01']).found, false);
  assert.equal(selectValue(doc, ['pod', '__proto__']).found, false);
  assert.equal(selectValue(doc, ['pod', 'constructor']).found, false);
});

test('text form of maps is kubelet FormatMap; quoteGo equals the spec encoder', () => {
  assert.equal(toText({ b: '2', a: 'x"y' }), 'a="x\\"y"\nb="2"');
  assert.equal(toText({}), '');
  assert.equal(toText(['1', '2']), '1\n2');
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (s) => assert.equal(quoteGo(s), goQuote(s))),
    { numRuns: 1000 },
  );
});

test('store memory: history is bounded by bytes and old snapshots are not retained (1 000 changes of a 250 KB document)', { timeout: 60_000 }, async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const s = new Store();
  const big = 'z'.repeat(250_000);
  const refs: WeakRef<object>[] = [];
  for (let i = 0; i < 1000; i++) {
    s.setPart('downward', { pod: { name: 'p', labels: { n: String(i) }, annotations: { big: big + (i % 7) } } });
    refs.push(new WeakRef(s.current.doc));
  }
  const { entries, bytes } = s.historySize;
  assert.ok(bytes <= Math.max(HISTORY_MIN_BYTES, s.current.body.length), `history ${bytes} bytes`);
  assert.ok(entries >= 1, 'the latest change is still kept');
  assert.deepEqual(s.changesSince(s.current.revision - 1)!.map((e) => e.revision), [s.current.revision]);
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.filter((r) => r.deref() !== undefined).length;
  assert.ok(alive <= 2, `${alive} of 1000 old documents still reachable`);
});

test('store history: small changes keep up to bufferSize entries; a replay list is contiguous', () => {
  const s = new Store({ bufferSize: 5 });
  for (let i = 0; i < 20; i++) s.setPart('downward', { pod: { labels: { n: String(i) } } });
  assert.equal(s.historySize.entries, 5);
  assert.deepEqual(s.changesSince(16)!.map((e) => e.revision), [17, 18, 19, 20]);
  assert.equal(s.changesSince(14), undefined);
  const last = JSON.parse(s.changesSince(19)![0]!.json.toString());
  assert.deepEqual(last, { revision: 20, patch: [{ op: 'replace', path: '/pod/labels/n', value: '19' }] });
});

test('rebasePatch: ops under the pointer rebased, unrelated ones dropped, an ancestor op gives undefined', () => {
  const patch = [
    { op: 'replace', path: '/pod/labels/a~1b', value: '2' },
    { op: 'add', path: '/pod/annotations/x', value: 'y' },
    { op: 'remove', path: '/pod/labels/gone' },
  ] as const;
  assert.deepEqual(rebasePatch(patch, pointerOf(['pod', 'labels'])), [
    { op: 'replace', path: '/a~1b', value: '2' },
    { op: 'remove', path: '/gone' },
  ]);
  assert.deepEqual(rebasePatch(patch, pointerOf(['pod', 'labels', 'a/b'])), [{ op: 'replace', path: '', value: '2' }]);
  assert.deepEqual(rebasePatch(patch, pointerOf(['node'])), []);
  assert.equal(rebasePatch([{ op: 'replace', path: '/pod/ips', value: ['x'] }], pointerOf(['pod', 'ips', '0'])), undefined);
  assert.equal(rebasePatch([{ op: 'add', path: '/pod', value: {} }], pointerOf(['pod', 'name'])), undefined);
  // the rebased patch of a random change equals the diff of the part
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'c/d'), fc.string({ maxLength: 2 }), { noNullPrototype: true }), fc.dictionary(fc.constantFrom('a', 'b', 'c/d'), fc.string({ maxLength: 2 }), { noNullPrototype: true }), (x, y) => {
      const before = { pod: { labels: x } };
      const after = { pod: { labels: y } };
      assert.deepEqual(apply(x, rebasePatch(diff(before, after), pointerOf(['pod', 'labels']))), y);
    }),
    { numRuns: 300 },
  );
});

test('render cache: one rendering per snapshot and path; bounded in entries; a new revision renders anew', () => {
  const s = new Store();
  s.setPart('downward', { pod: { name: 'p', labels: { a: '1' } } });
  const r1 = renderRaw(s.current, '/pod/labels', 'text');
  assert.equal(renderRaw(s.current, '/pod/labels', 'text'), r1, 'same bytes object: rendered once');
  assert.equal(r1!.body.toString(), 'a="1"');
  assert.notEqual(renderRaw(s.current, '/pod/labels', 'json')!.etag, r1!.etag, 'text and JSON have distinct tags');
  for (let i = 0; i < RENDER_CACHE_ENTRIES + 50; i++) assert.equal(renderRaw(s.current, `/pod/labels/k${i}`, 'json'), null);
  assert.equal(renderRaw(s.current, '/pod/name', 'json')!.body.toString(), '"p"', 'past the bound: still right, just not cached');
  s.setPart('downward', { pod: { name: 'p', labels: { a: '2' } } });
  assert.equal(renderRaw(s.current, '/pod/labels', 'text')!.body.toString(), 'a="2"');
});
