// RFC 6902 JSON Patch: a diff between two JSON values, and RFC 6901 pointers.
// Objects are diffed key by key; arrays and scalars that differ are replaced whole (always correct,
// and arrays in the document are short).

export type PatchOp =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'remove'; path: string };

export function escapeToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => deepEqual(v, bb[i]));
  }
  const ak = Object.keys(a);
  const bo = b as Record<string, unknown>;
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => Object.hasOwn(bo, k) && deepEqual((a as Record<string, unknown>)[k], bo[k]));
}

/** Freeze a JSON value and everything in it (snapshots and statuses are shared, never copied). */
export function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Ops that turn `a` into `b`. `base` is the pointer of both values. */
export function diff(a: unknown, b: unknown, base = ''): PatchOp[] {
  const ops: PatchOp[] = [];
  walk(a, b, base, ops);
  return ops;
}

function walk(a: unknown, b: unknown, path: string, ops: PatchOp[]): void {
  if (deepEqual(a, b)) return;
  if (!isObject(a) || !isObject(b)) {
    ops.push({ op: 'replace', path, value: b });
    return;
  }
  for (const k of Object.keys(a)) if (!Object.hasOwn(b, k)) ops.push({ op: 'remove', path: `${path}/${escapeToken(k)}` });
  for (const k of Object.keys(b)) {
    const p = `${path}/${escapeToken(k)}`;
    if (!Object.hasOwn(a, k)) ops.push({ op: 'add', path: p, value: b[k] });
    else walk(a[k], b[k], p, ops);
  }
}

/** The change of a selected part, as a patch on that part (root pointer ""). */
export function subValueChange(before: unknown, after: unknown): PatchOp[] {
  if (deepEqual(before, after)) return [];
  if (before === undefined) return [{ op: 'add', path: '', value: after }];
  if (after === undefined) return [{ op: 'remove', path: '' }];
  return diff(before, after);
}

/** The RFC 6901 pointer of a key path. */
export function pointerOf(keys: readonly string[]): string {
  return keys.map((k) => `/${escapeToken(k)}`).join('');
}

/**
 * The part of a document patch that concerns the value at `pointer`, rebased onto that value ("" = the
 * value itself). Undefined when an op replaces or removes an ANCESTOR of the pointer (an array replaced
 * whole, say): then the part's change cannot be told from the patch alone.
 */
export function rebasePatch(patch: readonly PatchOp[], pointer: string): PatchOp[] | undefined {
  if (pointer === '') return [...patch];
  const out: PatchOp[] = [];
  for (const op of patch) {
    if (op.path === pointer || op.path.startsWith(pointer + '/')) out.push({ ...op, path: op.path.slice(pointer.length) });
    else if (op.path === '' || pointer.startsWith(op.path + '/')) return undefined;
  }
  return out;
}
