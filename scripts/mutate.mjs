// Mutation check: apply one deliberate breakage to a source file, run the test files named for it, restore the
// file, and say whether the suite noticed (a test failed = the mutation is "killed").
//
//   node scripts/mutate.mjs                       every mutation in scripts/mutations.json
//   node scripts/mutate.mjs M07 M12               the named ones
//   node scripts/mutate.mjs --list                print them
//
// Each mutation is { id, area, file, from, to, tests[], also?, survives? }: `from` must occur exactly once in `file` (so the
// list fails loudly when the code moves on instead of silently testing nothing). The original bytes are
// written back in a finally block and on SIGINT/SIGTERM, so the tree is never left mutated; the script
// refuses to start when a target file has uncommitted changes (a restore must give back the committed file).
// Output: one line per mutation and, at the end, a Markdown table (docs/contract-tests.md "Mutation sample").
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, shippedNode } from './node-bin.mjs';

const all = JSON.parse(readFileSync(join(ROOT, 'scripts', 'mutations.json'), 'utf8'));
const args = process.argv.slice(2);
if (args.includes('--list')) {
  for (const m of all) console.log(`${m.id}  ${m.area}  ${m.file}: ${m.from}  →  ${m.to}`);
  process.exit(0);
}
const chosen = args.length ? all.filter((m) => args.includes(m.id)) : all;
if (chosen.length === 0) {
  console.error(`no mutation named ${args.join(', ')}`);
  process.exit(2);
}

const dirty = spawnSync('git', ['status', '--porcelain', '--', ...new Set(chosen.map((m) => m.file))], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
if (dirty) {
  console.error(`uncommitted changes in a target file; commit them first:\n${dirty}`);
  process.exit(2);
}

let restore;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    restore?.();
    process.exit(130);
  });
}

const node = shippedNode();
const results = [];
for (const m of chosen) {
  const path = join(ROOT, m.file);
  const original = readFileSync(path, 'utf8');
  // one edit, or several in the same file (`also`: e.g. two layers of one defence broken together)
  const edits = [{ from: m.from, to: m.to }, ...(m.also ?? [])];
  const bad = edits.find((e) => original.split(e.from).length - 1 !== 1);
  if (bad) {
    console.error(`${m.id}: "${bad.from}" occurs ${original.split(bad.from).length - 1} times in ${m.file} (must be exactly once)`);
    results.push({ ...m, outcome: 'not applied', failed: [] });
    continue;
  }
  restore = () => writeFileSync(path, original);
  let run;
  try {
    writeFileSync(path, edits.reduce((text, e) => text.replace(e.from, e.to), original));
    run = spawnSync(node, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=tap', ...m.tests], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: m.timeoutMs ?? 300_000,
      maxBuffer: 64 << 20,
    });
  } finally {
    restore();
    restore = undefined;
  }
  const failed = [...run.stdout.matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((x) => x[1]).filter((n) => !/\.test\.ts$/.test(n));
  // `survives`: a mutation kept on purpose although it survives (an equivalent one, or one that shows an old
  // test's weakness next to the mutation that the new test kills); it does not fail the run
  const outcome = run.status === 0 ? (m.survives ? `survived (${m.survives})` : 'SURVIVED') : run.error ? `error: ${run.error.message}` : 'killed';
  results.push({ ...m, outcome, failed });
  console.log(`${m.id} ${outcome.padEnd(8)} ${m.file}: ${m.from} → ${m.to}${failed.length ? `\n    failed: ${failed.join(' | ')}` : ''}`);
}

const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
console.log('\n| id | area | mutation | outcome | failing test |\n|---|---|---|---|---|');
for (const r of results) {
  const failing = r.failed.length ? r.failed.map((f) => `${r.tests.map((x) => x.replace(/^test\//, '')).join(', ')} › ${f}`)[0] : '—';
  const also = (r.also ?? []).map((e) => ` and \`${cell(e.from)}\` → \`${cell(e.to)}\``).join('');
  console.log(`| ${r.id} | ${cell(r.area)} | \`${cell(r.file)}\`: \`${cell(r.from)}\` → \`${cell(r.to)}\`${also} | ${r.outcome} | ${cell(failing)} |`);
}
process.exit(results.every((r) => r.outcome === 'killed' || r.outcome.startsWith('survived (')) ? 0 : 1);
