// Contract defaults that only real time can show: the SSE keep-alive comment "at least every 15 s" and the
// long-poll's default timeout of 60 s. Slow by nature (~60 s wall, run beside the other files), lower bounds
// exact (timers never fire early), upper bounds generous for a shared machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent } from './support/agent.js';
import { openSse } from './support/sse.js';

test('contract defaults: `: keep-alive` every 15 s on /events; a long-poll without timeout answers 304 after 60 s', { timeout: 120_000 }, async (t) => {
  // keepAliveMs: undefined -> the production default (the test starter otherwise shortens it)
  const a = await startAgent(t, { agent: { keepAliveMs: undefined } });
  const etag = (await a.get('/metadata')).headers.get('etag')!;
  const t0 = Date.now();
  const poll = a.get('/metadata?wait=true', { headers: { 'If-None-Match': etag } }).then((r) => ({ status: r.status, at: Date.now() - t0 }));
  const s = await openSse(a.base + '/events');
  t.after(() => s.close());
  const opened = Date.now();
  await s.next((e) => e.event === 'snapshot');
  const comments: number[] = [];
  const seen = s.comments.length;
  while (comments.length < 2) {
    await new Promise((r) => setTimeout(r, 100));
    for (let i = seen + comments.length; i < s.comments.length; i++) if (s.comments[i] === 'keep-alive') comments.push(Date.now() - opened);
    assert.ok(Date.now() - opened < 45_000, `two keep-alives within 45 s, saw ${JSON.stringify(comments)}`);
  }
  assert.ok(comments[0]! >= 14_000 && comments[0]! <= 20_000, `first keep-alive after ~15 s, got ${comments[0]} ms`);
  assert.ok(comments[1]! - comments[0]! >= 14_000 && comments[1]! - comments[0]! <= 20_000, `then every ~15 s, got ${comments[1]! - comments[0]!} ms`);
  const r = await poll;
  assert.equal(r.status, 304);
  assert.ok(r.at >= 59_500 && r.at <= 75_000, `the default long-poll timeout is 60 s, answered after ${r.at} ms`);
});
