// The BUILT agent (dist/, what the image runs) for tests that run the real program. The one place tests build
// it and the one way they spawn it:
//   - builtDist(): scripts/build.mjs --outdir=<private temp dir>, once per test process. The repository's
//     own dist/ is never touched, so test files building at the same time (and a developer's `npm run build`)
//     never race, and no rebuild can swap a file under a running test.
//   - spawnBuilt(): `node dist/main.js` with exactly the env given (plus PATH), optionally under an open-files
//     limit; resolves once its "podmeta listening" line is out, with the addresses it names.
// test/support/built-agent.ts adds a kubelet-style volume on top; test/support/image.ts does NOT use this:
// it carries out the Dockerfile's own build stage (that is what it tests).

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually } from './wait.js';

const ROOT = join(import.meta.dirname, '..', '..');
let built: Promise<string> | undefined;

async function build(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podmeta-dist-'));
  process.once('exit', () => void rm(dir, { recursive: true, force: true }));
  const out = join(dir, 'dist');
  await promisify(execFile)(process.execPath, ['scripts/build.mjs', `--outdir=${out}`], { cwd: ROOT });
  return out;
}

/** A private dist/ (main.js, cli.js, injector.js) built from the current sources, once per test process. */
export function builtDist(): Promise<string> {
  built ??= build();
  return built;
}

/** Path of the built dist/main.js (see builtDist). */
export async function builtMain(): Promise<string> {
  return join(await builtDist(), 'main.js');
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

export interface SpawnOptions {
  /** open-file limit of the agent process (soft and hard), via prlimit */
  nofile?: number;
}

/** Spawn `node dist/main.js` with exactly `env` (plus PATH); resolves once it is listening. `onExit` receives a
 * kill function for the test's cleanup. */
export async function spawnBuilt(env: Record<string, string>, onExit?: (kill: () => void) => void, { nofile }: SpawnOptions = {}): Promise<BuiltProcess> {
  const main = await builtMain();
  const cmd = nofile === undefined ? [process.execPath, main] : ['prlimit', `--nofile=${nofile}:${nofile}`, process.execPath, main];
  const child = spawn(cmd[0]!, cmd.slice(1), { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
