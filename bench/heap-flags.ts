// The V8 heap flags of the image's ENTRYPOINT against Node's defaults: throughput and server CPU per request
// (autocannon in its own process, pipelined ×4 so the server saturates first, alternating rounds) and the
// agent's RSS after the load. What BENCHMARKS.md's memory section cites for adopting the flags.
//   node --import tsx bench/heap-flags.ts [--rounds=2] [--seconds=5] [--flags=<a,b>] …   (after npm run build)

import { readFileSync } from 'node:fs';
import { autocannon, type CannonResult } from './http.js';
import { MB, round, sleep, spawnAgent, type AgentProcess } from './lib.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: string): string => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const rounds = Number(opt('rounds', '2'));
const seconds = Number(opt('seconds', '5'));
const sets: string[][] = argv.filter((a) => a.startsWith('--flags=')).map((a) => a.slice(8).split(',').filter(Boolean));
if (sets.length === 0) sets.push([], ['--max-semi-space-size=1', '--max-old-space-size=64']);

function anonMB(pid: number): number {
  const m = /^Anonymous:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return round(Number(m?.[1]) / 1024, 1);
}

const H = { Metadata: 'true' };
const paths = ['/metadata', '/metadata/pod/labels'];
const results = new Map<string, Map<string, CannonResult[]>>();
const agents: AgentProcess[] = [];
try {
  for (const flags of sets) agents.push(await spawnAgent({ nodeArgs: flags }));
  for (const a of agents) await autocannon({ url: a.base + '/metadata', headers: H, connections: 16, durationS: 2 });
  for (let r = 0; r < rounds; r++) {
    for (const [i, a] of agents.entries()) {
      const key = sets[i]!.join(' ') || '(Node defaults)';
      for (const p of paths) {
        const res = await autocannon({ url: a.base + p, headers: H, connections: 32, durationS: seconds, pipelining: 4, serverPid: a.pid });
        const byPath = results.get(key) ?? new Map<string, CannonResult[]>();
        results.set(key, byPath);
        byPath.set(p, [...(byPath.get(p) ?? []), res]);
        await sleep(200);
      }
    }
  }
  for (const [i, a] of agents.entries()) {
    const key = sets[i]!.join(' ') || '(Node defaults)';
    const line = paths.map((p) => {
      const rs = results.get(key)!.get(p)!;
      const avg = (f: (x: CannonResult) => number): number => round(rs.reduce((s, x) => s + f(x), 0) / rs.length, 1);
      return `${p} ${avg((x) => x.rps)} req/s ${avg((x) => x.cpuUsPerReq ?? NaN)} CPU-µs/req`;
    });
    console.log(`${key}: ${line.join('; ')}; RSS after ${round(a.rss() / MB, 1)} MB (anon ${anonMB(a.pid)})`);
  }
} finally {
  for (const a of agents) await a.stop();
}
