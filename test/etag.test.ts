// ETags (src/etag.ts): a JS 64-bit content hash + the length, so the agent never needs node:crypto for them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { contentHash, etagOf } from '../src/etag.js';

test('equal bytes give equal tags (a string and its UTF-8 bytes too), in the strong-ETag form', () => {
  const doc = Buffer.from(JSON.stringify({ pod: { labels: { app: 'web' } } }));
  assert.equal(etagOf(doc), etagOf(Buffer.from(doc)));
  assert.equal(etagOf('ünïcode'), etagOf(Buffer.from('ünïcode')));
  assert.match(etagOf(doc), /^"[0-9a-f]{16}-[0-9a-z]+"$/);
  assert.ok(etagOf(doc).endsWith(`-${doc.length.toString(36)}"`));
  assert.equal(contentHash(new Uint8Array()), contentHash(new Uint8Array()));
});

test('a change of any single byte, or of the length, changes the tag', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, delta) => {
      const i = at % bytes.length;
      const other = Uint8Array.from(bytes);
      other[i] = (other[i]! + delta) % 256;
      assert.notEqual(etagOf(other), etagOf(bytes));
      assert.notEqual(etagOf(bytes.subarray(0, bytes.length - 1)), etagOf(bytes));
    }),
    { numRuns: 2000 },
  );
});

test('no collisions among 200 000 similar documents (labels that differ by a counter)', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200_000; i++) seen.add(contentHash(Buffer.from(`{"revision":${i % 97},"pod":{"labels":{"v":"${i}"}}}`)));
  assert.equal(seen.size, 200_000);
});
