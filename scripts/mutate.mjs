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

const targets = new Set(chosen.flatMap((m) => [m.file, ...(m.also ?? []).map((e) => e.file ?? m.file)]));
const dirty = spawnSync('git', ['status', '--porcelain', '--', ...targets], { cwd: ROOT, encoding: 'utf8' }).stdout.trim();
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
  // one edit, or several (`also`: e.g. every layer of one defence broken together; an entry may name another file)
  const edits = [{ file: m.file, from: m.from, to: m.to }, ...(m.also ?? []).map((e) => ({ file: m.file, ...e }))];
  const originals = new Map(edits.map((e) => [e.file, readFileSync(join(ROOT, e.file), 'utf8')]));
  const bad = edits.find((e) => originals.get(e.file).split(e.from).length - 1 !== 1);
  if (bad) {
    console.error(`${m.id}: "${bad.from}" occurs ${originals.get(bad.file).split(bad.from).length - 1} times in ${bad.file} (must be exactly once)`);
    results.push({ ...m, outcome: 'not applied', failed: [] });
    continue;
  }
  restore = () => {
    for (const [file, text] of originals) writeFileSync(join(ROOT, file), text);
  };
  let run;
  try {
    const mutated = new Map(originals);
    for (const e of edits) mutated.set(e.file, mutated.get(e.file).replace(e.from, e.to));
    for (const [file, text] of mutated) writeFileSync(join(ROOT, file), text);
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
  const also = (r.also ?? []).map((e) => ` and ${e.file && e.file !== r.file ? `\`${cell(e.file)}\`: ` : ''}\`${cell(e.from)}\` → \`${cell(e.to)}\``).join('');
  console.log(`| ${r.id} | ${cell(r.area)} | \`${cell(r.file)}\`: \`${cell(r.from)}\` → \`${cell(r.to)}\`${also} | ${r.outcome} | ${cell(failing)} |`);
}
process.exit(results.every((r) => r.outcome === 'killed' || r.outcome.startsWith('survived (')) ? 0 : 1);
