// The footprint levers of scripts/build.mjs, one at a time, in one run: the shipped build (every lever on), then
// a build with each lever off, and one with all off; idle RSS and spawn → ready, medians, same Node.
//   tsx bench/levers.ts [--runs=N]

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIST_MAIN, ROOT } from './lib.js';
import { runFootprint } from './footprint.js';

export const LEVER_FLAGS = ['cjs', 'lazyBuiltins', 'lazyCrypto', 'lazyKoaDeps', 'callbackFs', 'noDebug', 'slimMimeDb'] as const;

export interface LeverResult {
  /** name → idle RSS / ready of that build; `shipped` is dist/main.js */
  builds: Record<string, { readyMs: number; idleRssMB: number }>;
  bareIdleRssMB: number;
  bareReadyMs: number;
}

function build(outdir: string, off: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, 'scripts', 'build.mjs'), `--outdir=${outdir}`, ...off.map((l) => `--no-${l}`)], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`build with ${off.join(',')} off exited ${code}`))));
  });
}

export async function runLevers({ runs = 3, log = (_s: string) => {} }: { runs?: number; log?: (s: string) => void } = {}): Promise<LeverResult> {
  const tmp = await mkdtemp(join(tmpdir(), 'podmeta-levers-'));
  try {
    const builds: Record<string, string> = { shipped: DIST_MAIN };
    for (const l of LEVER_FLAGS) {
      await build(join(tmp, l), [l]);
      builds[`${l} off`] = join(tmp, l, 'main.js');
    }
    await build(join(tmp, 'all'), LEVER_FLAGS);
    builds['all off'] = join(tmp, 'all', 'main.js');
    const r = await runFootprint({ runs, cpuWindows: 0, builds, log });
    const out: LeverResult = { builds: {}, bareIdleRssMB: r.bare.idleRssMB.p50, bareReadyMs: r.bare.readyMs.p50 };
    for (const [k, v] of Object.entries(r.variants ?? {})) out.builds[k.replace(/^build /, '')] = v;
    return out;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const runs = Number(process.argv.find((a) => a.startsWith('--runs='))?.slice(7) ?? 3);
  console.log(JSON.stringify(await runLevers({ runs, log: console.log }), null, 2));
}
