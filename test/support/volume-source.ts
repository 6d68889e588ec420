// A DownwardSource under test: every part and status it hands out, and its log lines.
import type test from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DownwardSource, type DownwardOptions } from '../../src/sources/downward.js';
import type { SourcePart, SourceStatus } from '../../src/document.js';
import { createLogger } from '../../src/log.js';

export async function tmpDir(t: test.TestContext, prefix = 'podmeta-vol-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(d, { recursive: true, force: true }));
  return d;
}

export function startable(t: test.TestContext, dir: string, extra: Partial<DownwardOptions> = {}) {
  const parts: (SourcePart | undefined)[] = [];
  const statuses: SourceStatus[] = [];
  const logs: string[] = [];
  let reads = 0;
  const s = new DownwardSource({
    dir,
    log: createLogger({ level: 'debug', write: (l) => void logs.push(l) }),
    onPart: (p) => parts.push(p),
    onStatus: (st) => statuses.push(st),
    onRead: () => void reads++,
    missingPollMs: 50,
    ...extra,
  });
  t.after(() => s.stop());
  recordFirst(s, parts);
  return {
    s,
    parts,
    statuses,
    logs,
    reads: () => reads,
    last: () => parts.at(-1),
    status: () => statuses.at(-1),
  };
}

/** start() resolves with the first reading and onPart carries the later ones: record both, in order. */
export function recordFirst(s: DownwardSource, parts: (SourcePart | undefined)[]): void {
  const start = s.start.bind(s);
  s.start = async () => {
    const first = await start();
    if (first !== undefined) parts.push(first);
    return first;
  };
}
