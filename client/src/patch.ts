// RFC 6902 JSON Patch applied to a private mutable copy (RFC 6901 pointers, `~1` = `/`, `~0` = `~`).
// Any op that does not apply throws PatchError: the watch then takes a fresh snapshot, never a guess.

import { deepEqual } from './values.js';

export class PatchError extends Error {
  override readonly name = 'PatchError';
}

export interface Op {
  op: string;
  path: string;
  from?: string;
  value?: unknown;
}

type Container = Record<string, unknown> | unknown[];

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new PatchError(`bad JSON pointer ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

function index(arr: unknown[], t: string, forAdd: boolean): number {
  if (forAdd && t === '-') return arr.length;
  if (!/^(0|[1-9]\d*)$/.test(t)) throw new PatchError(`bad array index ${JSON.stringify(t)}`);
  const i = Number(t);
  if (i > arr.length || (!forAdd && i === arr.length)) throw new PatchError(`array index ${i} out of range`);
  return i;
}

/** The parent container of a pointer and the last token. */
function parent(doc: unknown, ts: string[]): { c: Container; key: string } {
  let cur = doc;
  for (const t of ts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[index(cur, t, false)];
    else if (isContainer(cur) && Object.hasOwn(cur, t)) cur = (cur as Record<string, unknown>)[t];
    else throw new PatchError(`path /${ts.join('/')} does not exist`);
  }
  if (!isContainer(cur)) throw new PatchError(`path /${ts.join('/')}: parent is not an object or array`);
  return { c: cur, key: ts[ts.length - 1]! };
}

function get(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const t of tokens(pointer)) {
    if (Array.isArray(cur)) cur = cur[index(cur, t, false)];
    else if (isContainer(cur) && Object.hasOwn(cur, t)) cur = (cur as Record<string, unknown>)[t];
    else throw new PatchError(`path ${pointer} does not exist`);
  }
  return cur;
}

function add(doc: unknown, pointer: string, value: unknown): unknown {
  const ts = tokens(pointer);
  if (ts.length === 0) return value;
  const { c, key } = parent(doc, ts);
  if (Array.isArray(c)) c.splice(index(c, key, true), 0, value);
  else c[key] = value;
  return doc;
}

function remove(doc: unknown, pointer: string): unknown {
  const ts = tokens(pointer);
  if (ts.length === 0) return undefined;
  const { c, key } = parent(doc, ts);
  if (Array.isArray(c)) c.splice(index(c, key, false), 1);
  else if (Object.hasOwn(c, key)) delete c[key];
  else throw new PatchError(`path ${pointer} does not exist`);
  return doc;
}

function replace(doc: unknown, pointer: string, value: unknown): unknown {
  const ts = tokens(pointer);
  if (ts.length === 0) return value;
  const { c, key } = parent(doc, ts);
  if (Array.isArray(c)) c[index(c, key, false)] = value;
  else if (Object.hasOwn(c, key)) c[key] = value; // in place: key order is kept
  else throw new PatchError(`path ${pointer} does not exist`);
  return doc;
}

/** Apply a patch to `doc` (mutated: pass a private copy). Returns the new root. */
export function applyPatch(doc: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new PatchError('patch is not an array');
  let cur = doc;
  for (const raw of patch as Op[]) {
    if (typeof raw !== 'object' || raw === null || typeof raw.path !== 'string') throw new PatchError('malformed op');
    const copy = (v: unknown): unknown => (v === undefined ? v : structuredClone(v));
    switch (raw.op) {
      case 'add':
        if (!('value' in raw)) throw new PatchError('add without value');
        cur = add(cur, raw.path, copy(raw.value));
        break;
      case 'remove':
        cur = remove(cur, raw.path);
        break;
      case 'replace':
        if (!('value' in raw)) throw new PatchError('replace without value');
        cur = replace(cur, raw.path, copy(raw.value));
        break;
      case 'move': {
        if (typeof raw.from !== 'string') throw new PatchError('move without from');
        const v = get(cur, raw.from);
        cur = add(remove(cur, raw.from), raw.path, v);
        break;
      }
      case 'copy': {
        if (typeof raw.from !== 'string') throw new PatchError('copy without from');
        cur = add(cur, raw.path, copy(get(cur, raw.from)));
        break;
      }
      case 'test':
        if (!deepEqual(get(cur, raw.path), raw.value)) throw new PatchError(`test failed at ${raw.path}`);
        break;
      default:
        throw new PatchError(`unknown op ${JSON.stringify(raw.op)}`);
    }
  }
  return cur;
}
