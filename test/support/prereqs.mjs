// The programs the test suite runs besides Node (real clients, certificate generation, the image sandbox).
// scripts/test.mjs checks them once, before anything starts, and names what to install; the README lists them.
import { execFileSync } from 'node:child_process';

/** @typedef {{ cmd: string, args: string[], usedBy: string, install: string }} Prereq */

/** @type {Prereq[]} */
export const PREREQS = [
  { cmd: 'kubectl', args: ['version', '--client'], usedBy: 'the ambassador tests (kubectl --server) and the k8s/ kustomize checks', install: 'kubectl from the Kubernetes package repository (Debian\'s kubernetes-client is too old)' },
  { cmd: 'curl', args: ['--version'], usedBy: 'the HTTP and SSE tests with a real client', install: 'apt-get install -y curl' },
  { cmd: 'openssl', args: ['version'], usedBy: 'the fake API server\'s generated CA and certificates', install: 'apt-get install -y openssl' },
  { cmd: 'python3', args: ['--version'], usedBy: 'independent oracles and clients in the tests', install: 'apt-get install -y python3' },
  // Runs the image's file set as uid 65532 on a read-only root with loopback-only networking; it must be able to
  // create namespaces here, so the check runs a real sandbox rather than --version.
  { cmd: 'bwrap', args: ['--unshare-all', '--die-with-parent', '--ro-bind', '/', '/', '--uid', '65532', '--gid', '65532', 'true'], usedBy: 'the image smoke test (test/image-smoke.test.ts)', install: 'apt-get install -y bubblewrap (and allow unprivileged user namespaces, or run as root as CI does)' },
];

/** Runs each check; returns the ones that failed, with the reason. */
export function missingPrereqs(prereqs = PREREQS) {
  const out = [];
  for (const p of prereqs) {
    try {
      execFileSync(p.cmd, p.args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
    } catch (err) {
      const e = /** @type {NodeJS.ErrnoException & { stderr?: Buffer }} */ (err);
      const why = e.code === 'ENOENT' ? 'not found on PATH' : (e.stderr?.toString().trim().split('\n')[0] || e.message);
      out.push({ ...p, why });
    }
  }
  return out;
}

/** One message naming every missing program, what needs it and how to install it. */
export function prereqMessage(missing) {
  return [
    `podmeta tests: ${missing.length} required program${missing.length === 1 ? ' is' : 's are'} missing or not working:`,
    ...missing.map((m) => `  - ${m.cmd} (${m.why}): used by ${m.usedBy}. Install: ${m.install}`),
    'Install them and run npm test again (CI installs bubblewrap itself in .ci/run).',
  ].join('\n');
}
