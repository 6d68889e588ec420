// A stand-in for the API server's admission-policy CEL, to check that k8s/components/mutating-policy computes what
// src/inject/mutate.ts computes. Expressions are evaluated with @bufbuild/cel (a conformance-tested CEL
// implementation) plus the few Kubernetes CEL library functions the policies use (trim, quantity/compareTo,
// lists.indexOf, jsonpatch.escapeKey). Kubernetes' typed object construction (`Object.spec.x{f: v}`,
// `JSONPatch{…}`) is rewritten to map literals first: this checks the values the expressions build, not the
// API server's type checking, which only a real API server (>= 1.36) does.
import { isCelError, isCelList, isCelMap, celFunc, celMethod, CelScalar, listType, run, type CelValue } from '@bufbuild/cel';
import { parseQuantity } from '../../src/inject/qos.js';

type Obj = Record<string, any>;

/** `Object.spec.containers{name: x}` / `JSONPatch{op: 'add'}` -> `{'name': x}` / `{'op': 'add'}` (strings respected). */
export function untype(expr: string): string {
  let out = '';
  const stack: string[] = [];
  let expectField = false;
  for (let i = 0; i < expr.length; ) {
    const ch = expr[i]!;
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < expr.length && expr[j] !== ch) j += expr[j] === '\\' ? 2 : 1;
      out += expr.slice(i, j + 1);
      i = j + 1;
      expectField = false;
      continue;
    }
    const typed = /^(?:Object(?:\.[A-Za-z]+)*|JSONPatch)\{/.exec(expr.slice(i));
    if (typed && !/[A-Za-z0-9_.]/.test(expr[i - 1] ?? '')) {
      out += '{';
      stack.push('m');
      i += typed[0].length;
      expectField = true;
      continue;
    }
    if (expectField) {
      const f = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(expr.slice(i));
      if (f) {
        out += f[0].replace(/([A-Za-z_][A-Za-z0-9_]*)(\s*):$/, "'$1'$2:");
        i += f[0].length;
        expectField = false;
        continue;
      }
      if (!/\s/.test(ch)) expectField = false;
    }
    if (ch === '{' || ch === '(' || ch === '[') stack.push(ch);
    else if (ch === '}' || ch === ')' || ch === ']') stack.pop();
    else if (ch === ',' && stack.at(-1) === 'm') expectField = true;
    out += ch;
    i++;
  }
  return out.replace(/\bjsonpatch\.escapeKey\(/g, 'jsonpatchEscapeKey(');
}

const compare = (a: string, b: string): bigint => {
  const x = parseQuantity(a);
  const y = parseQuantity(b);
  if (!x || !y) throw new Error(`not a quantity: ${a} / ${b}`);
  const d = x.num * y.den - y.num * x.den;
  return d < 0n ? -1n : d > 0n ? 1n : 0n;
};

const FUNCS = [
  celMethod('trim', CelScalar.STRING, [], CelScalar.STRING, function (this: string) {
    return this.trim();
  }),
  // quantity(s) stands for the Kubernetes Quantity; compareTo compares exactly
  celFunc('quantity', [CelScalar.STRING], CelScalar.STRING, (s: string) => s),
  celMethod('compareTo', CelScalar.STRING, [CelScalar.STRING], CelScalar.INT, function (this: string, other: string) {
    return compare(this, other);
  }),
  celMethod('indexOf', listType(CelScalar.DYN), [CelScalar.DYN], CelScalar.INT, function (this: Iterable<CelValue>, v: CelValue) {
    let i = 0n;
    for (const x of this) {
      if (x === v) return i;
      i++;
    }
    return -1n;
  }),
  celFunc('jsonpatchEscapeKey', [CelScalar.STRING], CelScalar.STRING, (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1')),
];

/** CEL value -> plain JSON (ints as numbers). */
export function toJson(v: CelValue): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (isCelList(v)) return [...v].map(toJson);
  if (isCelMap(v)) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), toJson(x)]));
  if (typeof v === 'object' && v !== null && 'value' in (v as object) && typeof (v as { value: unknown }).value === 'bigint')
    return Number((v as { value: bigint }).value); // uint
  return v;
}

export function evaluate(expr: string, bindings: Obj): unknown {
  const r = run(untype(expr), bindings, { funcs: FUNCS });
  if (isCelError(r)) throw new Error(`CEL error: ${r.message}\n  in: ${expr.slice(0, 200)}`);
  return toJson(r);
}

const KEYED = new Set(['containers', 'initContainers', 'env', 'volumes', 'ports', 'volumeMounts']);

/** Server-side-apply style merge (what an ApplyConfiguration mutation does): maps merge, lists of named items
 *  merge by name (new items appended), other lists and scalars are replaced. */
export function applyMerge(target: unknown, patch: unknown, key = ''): unknown {
  if (Array.isArray(patch) && Array.isArray(target) && KEYED.has(key)) {
    const out = target.map((x) => structuredClone(x));
    for (const item of patch as Obj[]) {
      const i = out.findIndex((x: Obj) => x.name === item.name);
      if (i >= 0) out[i] = applyMerge(out[i], item);
      else out.push(structuredClone(item));
    }
    return out;
  }
  if (patch && typeof patch === 'object' && !Array.isArray(patch) && target && typeof target === 'object' && !Array.isArray(target)) {
    const out: Obj = structuredClone(target);
    for (const [k, v] of Object.entries(patch)) out[k] = k in out ? applyMerge(out[k], v, k) : structuredClone(v);
    return out;
  }
  return structuredClone(patch);
}
