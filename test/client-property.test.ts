// Property: for random sequences of document changes (labels, annotations and raw files rewritten the way
// kubelet does, some in bursts without waiting, with dropped connections in between), a watch of the whole
// document equals GET /metadata at the same revision after each settle, and a watch of one part equals
// that part — against the real agent over real sockets. Bounded: a few dozen kubelet updates.
import test from 'node:test';
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { createClient, type MetadataDocument } from '../client/src/index.js';
import { startAgent, sampleFiles, eventually } from './support/agent.js';
import { formatMap } from './support/kubelet-volume.js';
import { FaultProxy } from './support/client-proxy.js';

const chars = [...'abcz09 _-./~"\\=\n\t', 'é', '日', '🙂', '\u00a0'];
const value = fc.string({ unit: fc.constantFrom(...chars), maxLength: 10 });
const key = fc.stringMatching(/^[a-z0-9]([a-z0-9.~/_-]{0,8}[a-z0-9])?$/);
const map = fc.dictionary(key, value, { maxKeys: 4 });

type Op =
  | { kind: 'update'; labels: Record<string, string>; annotations: Record<string, string>; file: string | null }
  | { kind: 'burst'; labels: Record<string, string>[] }
  | { kind: 'drop' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('update' as const), labels: map, annotations: map, file: fc.option(value, { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), labels: fc.array(map, { minLength: 2, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'drop' as const }) },
);

test('property: the watch equals the agent after every settle, through bursts and dropped connections', { timeout: 120_000 }, async (t) => {
  const a = await startAgent(t, { agent: { retryMs: 20 } });
  const proxy = await FaultProxy.start(t, a.base);
  const pm = createClient({ url: proxy.url });
  t.after(() => pm.close());
  const whole = pm.watch();
  const labels = pm.watch('pod/labels');
  const annotations = pm.watch('pod/annotations');
  await Promise.all([whole.ready, labels.ready, annotations.ready]);
  const initial = (await (await a.get('/metadata')).json()) as MetadataDocument;
  let expected = { labels: { ...initial.pod.labels }, annotations: { ...initial.pod.annotations } };
  const write = async (l: Record<string, string>, an: Record<string, string>, file: string | null): Promise<void> => {
    expected = { labels: { ...l }, annotations: { ...an } }; // plain objects (fast-check makes null-prototype ones)
    await a.volume!.update({ ...sampleFiles(l), annotations: formatMap(an), ...(file === null ? {} : { someOtherItem: file }) });
  };
  const settle = async (): Promise<void> => {
    const d = await eventually(async () => {
      const x = (await (await a.get('/metadata')).json()) as MetadataDocument;
      return isDeepStrictEqual(x.pod.labels ?? {}, expected.labels) && isDeepStrictEqual(x.pod.annotations ?? {}, expected.annotations) ? x : undefined;
    }, 5000, 'the agent to serve the change');
    await eventually(() => whole.revision === d.revision, 5000, `the watch at revision ${d.revision} (is ${whole.revision})`);
    assert.deepEqual(whole.current, d);
    await eventually(() => isDeepStrictEqual(labels.current ?? {}, d.pod.labels ?? {}), 5000, 'the labels watch');
    await eventually(() => isDeepStrictEqual(annotations.current ?? {}, d.pod.annotations ?? {}), 5000, 'the annotations watch');
  };
  let steps = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 5 }), async (ops) => {
      for (const o of ops) {
        steps++;
        if (o.kind === 'drop') proxy.drop();
        else if (o.kind === 'update') await write(o.labels, o.annotations, o.file);
        else for (const l of o.labels) await write(l, expected.annotations, null);
        await settle();
      }
    }),
    { numRuns: 20, endOnFailure: true },
  );
  assert.ok(steps >= 8);
  assert.ok(whole.stats.changes > 0, 'patches were applied (not only snapshots)');
  assert.equal(whole.stats.resyncs, 0, 'no patch from the real agent ever failed to apply');
});
