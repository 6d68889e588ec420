// Runs an assembled image (test/support/image.ts) the way a pod runs the container: bubblewrap with every
// namespace unshared (so the network is loopback only), the image's files and a kubelet-style volume bound
// read-only, the root remounted read-only, no capabilities, the USER's uid/gid, the ENTRYPOINT as PID 1, and only
// the image's ENV plus the pod's env. As root (CI), bwrap itself runs as that uid (setpriv), so the agent is
// really uid 65532 on the host and owns none of its files, as in a container.
// exec() is `kubectl exec`: the same namespaces, root, working directory, uid and image env (nsenter).
// probe() is the kubelet: a host program (curl) inside the pod's network namespace only.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import type { ImagePlan } from './image.js';

const run = promisify(execFile);

export interface Mount {
  src: string;
  dest: string;
}

export interface Sandbox {
  /** host pid of the container's PID 1 */
  pid: number;
  /** the bwrap process; its exit status is PID 1's */
  child: ChildProcess;
  readonly output: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exec(argv: string[], extraEnv?: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }>;
  probe(program: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Device nodes a container gets (read/write to them writes nothing anywhere). */
const DEVICES = ['/dev/null', '/dev/zero', '/dev/random', '/dev/urandom'];

/** The bwrap command line for `plan` (exported so the test can check it uses exactly the plan). */
export function sandboxArgs(plan: ImagePlan, mounts: Mount[]): string[] {
  const args = ['--unshare-all', '--die-with-parent', '--as-pid-1', '--cap-drop', 'ALL'];
  args.push('--uid', String(plan.uid), '--gid', String(plan.gid), '--hostname', 'podmeta');
  for (const f of [...plan.baseFiles, ...plan.files, ...mounts]) args.push('--ro-bind', f.src, f.dest);
  for (const d of DEVICES) args.push('--dev-bind', d, d);
  args.push('--proc', '/proc', '--dir', '/tmp', '--chdir', plan.workdir, '--remount-ro', '/', '--info-fd', '3', '--');
  return [...args, ...plan.argv];
}

/** The program that starts bwrap: as root, drop to the image's uid first. */
function launcher(plan: ImagePlan): string[] {
  return process.getuid?.() === 0 ? ['setpriv', `--reuid=${plan.uid}`, `--regid=${plan.gid}`, '--clear-groups', 'bwrap'] : ['bwrap'];
}

export async function startSandbox(plan: ImagePlan, mounts: Mount[], podEnv: Record<string, string>): Promise<Sandbox> {
  const env = { ...plan.env, ...podEnv };
  const [cmd, ...pre] = launcher(plan);
  const child = spawn(cmd!, [...pre, ...sandboxArgs(plan, mounts)], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const info = child.stdio[3] as NodeJS.ReadableStream;
  const pid = await new Promise<number>((resolve, reject) => {
    let text = '';
    info.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /"child-pid":\s*(\d+)/.exec(text);
      if (m) resolve(Number(m[1]));
    });
    void exited.then((e) => reject(new Error(`bwrap exited (${e.code ?? e.signal}) before starting the entrypoint:\n${output}`)));
  });
  const result = async (p: Promise<{ stdout: string; stderr: string }>) => {
    try {
      return { code: 0, ...(await p) };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
    }
  };
  const ns = ['nsenter', '-t', String(pid)];
  return {
    pid,
    child,
    get output() {
      return output;
    },
    exited,
    exec: (argv, extraEnv = {}) =>
      result(run(ns[0]!, [...ns.slice(1), '--all', '--root', '--wd', '-S', String(plan.uid), '-G', String(plan.gid), '--', ...argv], { env: { ...plan.env, ...extraEnv }, timeout: 30_000 })),
    probe: (program, args) => result(run(ns[0]!, [...ns.slice(1), '--net', '--', program, ...args], { timeout: 30_000 })),
  };
}
