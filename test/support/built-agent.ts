// The BUILT agent (dist/main.js) with a kubelet-style volume and the sample env, for attack tests: built and
// spawned by test/support/dist.ts (the one build, the one spawn); this adds the volume, the defaults and the
// test's cleanup.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { TestContext } from 'node:test';
import { spawnBuilt } from './dist.js';
import { KubeletVolume, type Payload } from './kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './samples.js';

export interface BuiltAgent {
  child: ChildProcess;
  pid: number;
  /** everything the agent wrote (stdout, then stderr) */
  stdout(): string;
  volume: KubeletVolume;
  base: string;
  probe: string;
  metaPort: number;
  probePort: number;
  /** resident set size of the agent now, in bytes (from /proc) */
  rss(): Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface BuiltOptions {
  env?: Record<string, string>;
  files?: Payload;
  /** open-file limit of the agent process (soft and hard), via prlimit */
  nofile?: number;
}

export async function startBuilt(t: TestContext, { env = {}, files = sampleFiles(), nofile }: BuiltOptions = {}): Promise<BuiltAgent> {
  const root = await mkdtemp(join(tmpdir(), 'podmeta-attack-'));
  let kill = (): void => {};
  let exited: Promise<unknown> = Promise.resolve();
  // one cleanup, the agent first: a test that timed out (its body still writing the volume) or a failing rm
  // must never leave the agent running, which would keep this test process alive
  t.after(async () => {
    kill();
    await exited;
    await rm(root, { recursive: true, force: true });
  });
  const dir = join(root, 'podinfo');
  await mkdir(root, { recursive: true });
  const volume = await KubeletVolume.create(dir, files);
  const p = await spawnBuilt(
    { ...SAMPLE_ENV, PODMETA_LISTEN: '127.0.0.1:0', PODMETA_PROBE_LISTEN: '127.0.0.1:0', PODMETA_DOWNWARD_DIR: dir, PODMETA_API: 'off', ...env },
    (k) => (kill = k),
    nofile === undefined ? {} : { nofile },
  );
  exited = p.exited;
  const { metadata, probe } = p.addresses;
  const pid = p.child.pid!;
  return {
    child: p.child,
    pid,
    stdout: () => p.stdout + p.stderr,
    volume,
    base: `http://${metadata}`,
    probe: `http://${probe}`,
    metaPort: Number(metadata.split(':').pop()),
    probePort: Number(probe.split(':').pop()),
    rss: async () => Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024,
    exited: p.exited,
  };
}

/** Sample a process's RSS every few ms while `during` runs; the peak in bytes. */
export async function peakRss(agent: BuiltAgent, during: () => Promise<unknown>): Promise<number> {
  let peak = await agent.rss();
  let run = true;
  const sampler = (async () => {
    while (run) {
      peak = Math.max(peak, await agent.rss().catch(() => 0));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  try {
    await during();
  } finally {
    run = false;
    await sampler;
  }
  return peak;
}
