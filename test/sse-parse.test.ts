import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, type SseMessage } from '../src/sse-parse.js';

function parse(chunks: string[]): { events: SseMessage[]; comments: string[]; retries: number[]; lastId: string | undefined } {
  const events: SseMessage[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const p = new SseParser({ event: (e) => events.push(e), comment: (c) => comments.push(c), retry: (r) => retries.push(r) });
  for (const c of chunks) p.feed(c);
  return { events, comments, retries, lastId: p.lastEventId };
}

const STREAM = 'retry: 2000\n: keep-alive\nevent: snapshot\nid: 7.1\ndata: {"a":\ndata: 1}\n\nevent: change\nid: 7.2\ndata: {"revision":2}\n\n';

test('sse-parse: events, multi-line data, comments, retry, ids', () => {
  const r = parse([STREAM]);
  assert.deepEqual(r.events, [
    { event: 'snapshot', id: '7.1', data: '{"a":\n1}' },
    { event: 'change', id: '7.2', data: '{"revision":2}' },
  ]);
  assert.deepEqual(r.comments, ['keep-alive']);
  assert.deepEqual(r.retries, [2000]);
  assert.equal(r.lastId, '7.2');
});

test('sse-parse: the same events whatever the chunking (every split point, CRLF and CR line ends)', () => {
  const expected = parse([STREAM]).events;
  for (const eol of ['\n', '\r\n', '\r']) {
    const text = STREAM.replace(/\n/g, eol);
    for (let i = 0; i <= text.length; i++) {
      const r = parse([text.slice(0, i), text.slice(i)]);
      assert.deepEqual(r.events, expected, `eol ${JSON.stringify(eol)} split at ${i}`);
    }
  }
});

test('sse-parse: spec details — BOM, default type, no data no dispatch, id persists, NUL id ignored, bad retry ignored', () => {
  const r = parse(['\ufeffdata: x\n\nevent: e\n\nid: 1\ndata\n\nid: a\0b\ndata: y\n\nretry: soon\ndata:z\n\n']);
  assert.deepEqual(r.events, [
    { event: 'message', id: undefined, data: 'x' },
    { event: 'message', id: '1', data: '' },
    { event: 'message', id: '1', data: 'y' },
    { event: 'message', id: '1', data: 'z' },
  ]);
  assert.deepEqual(r.retries, []);
});

test('sse-parse: an unterminated event at the end of the stream is not dispatched', () => {
  assert.deepEqual(parse(['data: partial\n']).events, []);
});
