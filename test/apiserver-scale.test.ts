// Smoke run of bench/api-scale.ts at a small scale: the steady state never lists or gets, a drop costs no
// list, a compaction costs one list per resource per agent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runApiScale } from '../bench/api-scale.js';

test('api scale bench (10 agents, 45 simulated minutes at 1/600): no polling in steady state', async () => {
  const r = await runApiScale({ agents: 10, simulatedMinutes: 45, timeScale: 1 / 600 });
  assert.equal(r['steady.lists/agent/h'], 0);
  assert.equal(r['steady.gets/agent/h'], 0);
  assert.equal(r['gets/agent/h'], 0);
  assert.equal(r['lists/agent after a drop (min 20–30)'], 0);
  assert.equal(r['lists/agent after the 410 (min 30–end)'], 2);
  assert.ok(r['steady.watches/agent/h']! > 0, 'watches are renewed');
  assert.equal(r['drops'], 2);
  assert.equal(r['compactions'], 1);
});

test('api scale bench with topology labels on the pods (default PODMETA_NODE_LABELS): zero Node requests, half the watches', async () => {
  const r = await runApiScale({ agents: 10, simulatedMinutes: 25, timeScale: 1 / 600, topology: true });
  assert.equal(r['node.requests/agent (whole run)'], 0);
  assert.equal(r['node.watches/agent/h'], 0);
  assert.ok(r['pod.watches/agent/h']! > 0);
  assert.equal(r['steady.lists/agent/h'], 0);
  assert.equal(r['lists/agent after a drop (min 20–30)'], 0);
});
