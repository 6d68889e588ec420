// The BUILT agent (dist/main.js, what the image runs) for tests that attack the real program: one esbuild
// bundle per test process, built under a lock (other test files may build at the same time) and copied to
// a private temp dir so a concurrent rebuild can never swap the file under a running test; spawned with an
// env only, its "podmeta listening" line parsed for the addresses.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './wait.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
let built: Promise<string> | undefined;

async function build(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podmeta-dist-'));
  process.once('exit', () => void rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'main.js');
  const lock = join(tmpdir(), `podmeta-build-${Buffer.from(ROOT).toString('hex').slice(-24)}.lock`);
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await run('flock', [lock, process.execPath, 'scripts/build.mjs'], { cwd: ROOT });
      await copyFile(join(ROOT, 'dist', 'main.js'), out);
      return out;
    } catch (err) {
      last = err; // a concurrent unlocked build removed dist/ between the two steps: build again
    }
  }
  throw last;
}

/** Path of a private copy of a fresh dist/main.js (built once per test process). */
export function builtMain(): Promise<string> {
  built ??= build();
  return built;
}

export interface BuiltProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** addresses from the "podmeta listening" log line */
  addresses: { metadata: string; probe: string; proxy?: string };
  /** parsed JSON log lines so far */
  logs(): Record<string, unknown>[];
}

/** Spawn `node dist/main.js` with exactly `env` (plus PATH); resolves once it is listening. */
export async function spawnBuilt(env: Record<string, string>, onExit?: (kill: () => void) => void): Promise<BuiltProcess> {
  const main = await builtMain();
  const child = spawn(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  onExit?.(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const line = await eventually(() => {
    if (child.exitCode !== null) throw new Error(`dist/main.js exited ${child.exitCode}: ${stderr}${stdout}`);
    return stdout.split('\n').find((l) => l.includes('"podmeta listening"'));
  }, 20_000, 'the "podmeta listening" line');
  const addresses = JSON.parse(line) as BuiltProcess['addresses'];
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    addresses,
    logs: () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Env for a built agent whose proxy fronts an API server at host:port with the SA dir `saDir` (no volume, no Node). */
export function proxyAgentEnv(api: { host: string; port: string }, saDir: string): Record<string, string> {
  return {
    PODMETA_LISTEN: '127.0.0.1:0',
    PODMETA_PROBE_LISTEN: '127.0.0.1:0',
    PODMETA_PROXY_LISTEN: '127.0.0.1:0',
    PODMETA_DOWNWARD_DIR: `${saDir}/no-podinfo`,
    PODMETA_API: 'on',
    PODMETA_SA_DIR: saDir,
    PODMETA_NODE_LABELS: '',
    KUBERNETES_SERVICE_HOST: api.host,
    KUBERNETES_SERVICE_PORT: api.port,
  };
}
