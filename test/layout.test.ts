// The README's layout section, checked against the code: data flows one way (sources → store → HTTP views),
// each folder imports only what its row says, no import cycles, and only the entry points read process.env.
import test from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const SRC = path.join(import.meta.dirname, '..', 'src');

function files(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.relative(SRC, path.join(dir, e.name)).split(path.sep).join('/')] : [],
  );
}

/** src-relative files a module imports (static, re-exports, dynamic), type-only imports included. */
function imports(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;'"]*?from\s*'([^']+)'|import\(\s*'([^']+)'\s*\)/g)) {
    const spec = m[1] ?? m[2]!;
    if (!spec.startsWith('.')) continue;
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts'));
  }
  return out;
}

type Layer = 'source' | 'store' | 'http' | 'proxy' | 'inject' | 'root' | 'shared';
const ROOTS = ['main.ts', 'agent.ts', 'injector.ts', 'cli.ts'];
function layer(f: string): Layer {
  if (f.startsWith('sources/') || f.startsWith('apiserver/')) return 'source';
  if (f.startsWith('http/')) return 'http';
  if (f.startsWith('proxy/')) return 'proxy';
  if (f.startsWith('inject/')) return 'inject';
  if (ROOTS.includes(f)) return 'root';
  if (f === 'store.ts') return 'store';
  return 'shared'; // document, merge, keys, status, jsonpatch, quantity, select, config, log, metrics, …
}

/** What each layer may import besides 'shared' and itself (the README's table). */
const ALLOWED: Record<Layer, (to: string) => boolean> = {
  source: () => false, // sources hand parts and statuses out through callbacks; they never see the store or a view
  store: () => false,
  http: (to) => to === 'store.ts', // views read the snapshot and subscribe
  proxy: (to) => to === 'apiserver/transport.ts' || ['http/server.ts', 'http/errors.ts', 'http/body.ts', 'http/guard.ts', 'http/framing.ts'].includes(to),
  inject: (to) => to === 'http/errors.ts' || to === 'http/body.ts',
  root: () => true,
  shared: (to) => to === 'store.ts', // select.ts reads a snapshot
};

const graph = new Map(files().map((f) => [f, imports(f, readFileSync(path.join(SRC, f), 'utf8'))]));

test('the import parser sees the wiring it guards (so the rules below cannot pass vacuously)', () => {
  assert.ok(graph.size > 50, `${graph.size} files`);
  assert.ok(graph.get('agent.ts')!.includes('store.ts') && graph.get('agent.ts')!.includes('sources/downward.ts'));
  assert.ok(graph.get('http/app.ts')!.includes('store.ts'), 'import type is an edge too');
  assert.ok(graph.get('proxy/upstream.ts')?.includes('apiserver/transport.ts') ?? graph.get('proxy/index.ts')!.includes('apiserver/transport.ts'));
});

test('one-way: each folder imports only what the layout allows', () => {
  const bad: string[] = [];
  for (const [from, tos] of graph) {
    const l = layer(from);
    for (const to of tos) {
      assert.ok(graph.has(to), `${from} imports ${to}, which is not a file in src/`);
      const lt = layer(to);
      if (lt === l || lt === 'shared' || ALLOWED[l](to)) continue;
      bad.push(`${from} (${l}) → ${to} (${lt})`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no import cycles in src/', () => {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...stack.slice(stack.indexOf(f)), f].join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const to of graph.get(f) ?? []) visit(to, [...stack, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  assert.deepEqual(cycles, []);
});

test('only the entry points read process.env; only they and signals.ts exit the process', () => {
  const env: string[] = [];
  const exit: string[] = [];
  for (const f of graph.keys()) {
    const code = readFileSync(path.join(SRC, f), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    if (/process\.env\b/.test(code)) env.push(f);
    if (/process\.exit\b/.test(code)) exit.push(f);
  }
  assert.deepEqual(env.sort(), ['cli.ts', 'injector.ts', 'main.ts']);
  assert.deepEqual(exit.sort(), ['cli.ts', 'injector.ts', 'main.ts', 'signals.ts']);
});
