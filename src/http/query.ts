// Query strings and content negotiation for the raw request paths, strict where the lenient parsers are
// not: a malformed percent-escape (`?path=%ff`) is a 400 naming the parameter, never a U+FFFD that
// silently selects nothing; a repeated parameter is a 400.

import type { Format } from '../select.js';
import { HttpError } from './errors.js';

export type Query = ReadonlyMap<string, readonly string[]>;

const EMPTY: Query = new Map();

function decode(s: string, name: string): string {
  try {
    return decodeURIComponent(s.includes('+') ? s.replace(/\+/g, ' ') : s);
  } catch {
    throw new HttpError(400, `query parameter ${name} is not valid percent-encoded UTF-8`);
  }
}

/** Parse `a=1&b=2` (without the `?`). */
export function parseQuery(raw: string): Query {
  if (raw === '') return EMPTY;
  const q = new Map<string, string[]>();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const name = decode(rawName, JSON.stringify(rawName));
    const value = eq < 0 ? '' : decode(pair.slice(eq + 1), name);
    const list = q.get(name);
    if (list) list.push(value);
    else q.set(name, [value]);
  }
  return q;
}

/** The value of a parameter given at most once. */
export function single(q: Query, name: string): string | undefined {
  const v = q.get(name);
  if (v === undefined) return undefined;
  if (v.length > 1) throw new HttpError(400, `query parameter ${name} was given more than once`);
  return v[0];
}

const ACCEPT_CACHE_MAX = 64;
const acceptCache = new Map<string, Format>();

/** The quality and specificity with which an Accept header takes a type (-1 when it does not). */
function grade(ranges: readonly { type: string; sub: string; q: number; i: number }[], type: string, sub: string): [number, number, number] {
  let best: [number, number, number] = [-1, -1, 0];
  for (const r of ranges) {
    const s = r.type === type && r.sub === sub ? 2 : r.type === type && r.sub === '*' ? 1 : r.type === '*' && r.sub === '*' ? 0 : -1;
    if (s > best[1]) best = [r.q, s, r.i];
  }
  return best;
}

/** `Accept` → json or text, as koa's `ctx.accepts('application/json', 'text/plain')` would choose
 * (quality, then specificity, then order in the header; JSON when neither or both equally). */
export function formatFromAccept(accept: string | undefined): Format {
  if (accept === undefined || accept === '' || accept === '*/*' || accept === 'application/json') return 'json';
  if (accept === 'text/plain') return 'text';
  const hit = acceptCache.get(accept);
  if (hit) return hit;
  const ranges = accept.split(',').map((part, i) => {
    const [mt = '', ...params] = part.split(';').map((x) => x.trim().toLowerCase());
    const [type = '', sub = ''] = mt.split('/');
    const qp = params.find((p) => p.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) : 1;
    return { type, sub, q: Number.isFinite(q) ? q : 0, i };
  });
  const j = grade(ranges, 'application', 'json');
  const t = grade(ranges, 'text', 'plain');
  const textWins = t[0] > 0 && (t[0] > j[0] || (t[0] === j[0] && (t[1] > j[1] || (t[1] === j[1] && t[2] < j[2]))));
  const f: Format = textWins ? 'text' : 'json';
  if (acceptCache.size < ACCEPT_CACHE_MAX) acceptCache.set(accept, f);
  return f;
}

/** `?format=` when given, else the Accept header. */
export function formatOf(q: Query, accept: string | undefined): Format {
  const f = single(q, 'format');
  if (f === undefined) return formatFromAccept(accept);
  if (f === 'json' || f === 'text') return f;
  throw new HttpError(400, `query parameter format must be "json" or "text", got ${JSON.stringify(f)}`);
}
