// The BUILT agent (dist/main.js, what the image runs) as a child process, for attack tests. The bundle is
// built once per test process by the project's own scripts/build.mjs, in a private copy of the sources
// (so parallel test files never race on the repository's dist/), then spawned with a kubelet-style volume.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { KubeletVolume, type Payload } from './kubelet-volume.js';
import { SAMPLE_ENV, sampleFiles } from './samples.js';
import { eventually } from './wait.js';

const ROOT = join(import.meta.dirname, '..', '..');
let built: Promise<string> | undefined;

/** Path of a freshly built main.js (built once per process). */
export function builtMain(): Promise<string> {
  built ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'podmeta-build-'));
    process.once('exit', () => void rm(dir, { recursive: true, force: true }));
    for (const p of ['src', 'scripts', 'package.json', 'tsconfig.json']) await cp(join(ROOT, p), join(dir, p), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    await promisify(execFile)(process.execPath, ['scripts/build.mjs'], { cwd: dir });
    return join(dir, 'dist', 'main.js');
  })();
  return built;
}

export interface BuiltAgent {
  child: ChildProcess;
  pid: number;
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
  const main = await builtMain();
  const root = await mkdtemp(join(tmpdir(), 'podmeta-attack-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  const dir = join(root, 'podinfo');
  await mkdir(root, { recursive: true });
  const volume = await KubeletVolume.create(dir, files);
  const cmd = nofile === undefined ? [process.execPath, main] : ['prlimit', `--nofile=${nofile}:${nofile}`, process.execPath, main];
  const child = spawn(cmd[0]!, cmd.slice(1), {
    env: {
      PATH: process.env.PATH ?? '',
      ...SAMPLE_ENV,
      PODMETA_LISTEN: '127.0.0.1:0',
      PODMETA_PROBE_LISTEN: '127.0.0.1:0',
      PODMETA_DOWNWARD_DIR: dir,
      PODMETA_API: 'off',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  const line = await eventually(() => out.split('\n').find((l) => l.includes('"podmeta listening"')), 15_000, `listening log line (output: ${out.slice(0, 500)})`);
  const addr = JSON.parse(line) as { metadata: string; probe: string };
  const pid = child.pid!;
  return {
    child,
    pid,
    stdout: () => out,
    volume,
    base: `http://${addr.metadata}`,
    probe: `http://${addr.probe}`,
    metaPort: Number(addr.metadata.split(':').pop()),
    probePort: Number(addr.probe.split(':').pop()),
    rss: async () => Number(/^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))![1]) * 1024,
    exited,
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
