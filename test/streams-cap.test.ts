// PODMETA_MAX_STREAMS is the one knob for concurrent event streams: the listener's held-requests budget
// (connections.ts, 4 096 for pipelined answers) is on top of it, so raising the knob above 4 096 works.
import test from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startBuilt } from './support/built-agent.js';
import { openSocket } from './support/raw-http.js';
import { eventually } from './support/wait.js';

test('4 200 event streams with PODMETA_MAX_STREAMS=4300: every one gets its snapshot (the held-requests budget does not cap them)', { timeout: 120_000 }, async (t) => {
  const a = await startBuilt(t, { env: { PODMETA_MAX_STREAMS: '4300', PODMETA_MAX_CONNECTIONS: '4500' } });
  const socks: { sock: Socket; received: () => string }[] = [];
  t.after(() => socks.forEach((s) => s.sock.destroy()));
  for (let i = 0; i < 4200; i++) {
    const s = await openSocket(a.metaPort);
    s.sock.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n');
    socks.push(s);
  }
  const streaming = (): number => socks.filter((s) => s.received().includes('event: snapshot')).length;
  await eventually(() => streaming() === 4200 || socks.some((s) => /^HTTP\/1\.1 5\d\d/.test(s.received())), 60_000, `snapshots (${streaming()})`);
  const refused = socks.filter((s) => /^HTTP\/1\.1 5\d\d/.test(s.received()));
  assert.equal(refused.length, 0, `refused: ${refused[0]?.received().slice(0, 200)}`);
  assert.equal(streaming(), 4200);
});
