// `podmeta inject` on Kubernetes YAML: every document is parsed losslessly (yaml's CST); a document with an
// opted-in pod template gets the injection patch applied to its syntax tree (so its comments, key order and
// quoting stay), and every other document is written back byte for byte from its source text.

import { CST, Composer, Parser, isMap, isSeq, type Document, type Node } from 'yaml';
import { inject, type AddOp, type InjectResult, type InjectOptions } from './mutate.js';

/** Where the pod template sits in each kind that has one. */
const TEMPLATE_PATH: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface WorkloadReport {
  /** e.g. `deployment/web` (with `items[2]` inside a List) */
  what: string;
  result: InjectResult;
}

export class InjectRefused extends Error {
  override name = 'InjectRefused';
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const unescape = (t: string) => t.replace(/~1/g, '/').replace(/~0/g, '~');

/** Apply add operations to a YAML document's syntax tree (RFC 6902 `add`: insert into a list, set a map key). */
function applyToDocument(doc: Document, prefix: ReadonlyArray<string | number>, ops: readonly AddOp[]): void {
  for (const op of ops) {
    const tokens: Array<string | number> = [...prefix, ...op.path.split('/').slice(1).map(unescape)];
    const last = tokens.pop()!;
    let node: unknown = doc.contents;
    for (const t of tokens) {
      if (isSeq(node)) node = node.items[Number(t)];
      else if (isMap(node)) node = node.get(t, true);
      else node = undefined;
      if (node === undefined) throw new Error(`internal: no node at ${op.path}`);
    }
    const value = doc.createNode(op.value) as Node;
    if (isSeq(node)) {
      if (last === '-') node.items.push(value);
      else node.items.splice(Number(last), 0, value);
    } else if (isMap(node)) node.set(String(last), value);
    else throw new Error(`internal: cannot add at ${op.path}`);
  }
}

function getIn(value: unknown, path: ReadonlyArray<string | number>): unknown {
  let v = value;
  for (const t of path) v = isObj(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[t] : undefined;
  return v;
}

/** Inject into one parsed object (or each item of a List); returns whether anything changed. */
function injectObject(doc: Document, obj: unknown, prefix: ReadonlyArray<string | number>, options: InjectOptions, reports: WorkloadReport[]): boolean {
  if (!isObj(obj) || typeof obj.kind !== 'string') return false;
  const name = isObj(obj.metadata) && typeof obj.metadata.name === 'string' ? obj.metadata.name : '(unnamed)';
  const where = prefix.length ? `${prefix.join('.')}: ` : '';
  if (obj.kind === 'List' && Array.isArray(obj.items)) {
    let changed = false;
    obj.items.forEach((item, i) => (changed = injectObject(doc, item, [...prefix, 'items', i], options, reports) || changed));
    return changed;
  }
  const path = TEMPLATE_PATH[obj.kind];
  if (!path) return false;
  const what = `${where}${obj.kind.toLowerCase()}/${name}`;
  const template = path.length === 0 ? obj : getIn(obj, path);
  if (!isObj(template)) return false;
  const result = inject(template, options);
  reports.push({ what, result });
  if (result.status === 'refused') throw new InjectRefused(`${what}: ${result.message}`);
  if (result.patch.length === 0) return false;
  applyToDocument(doc, [...prefix, ...path], result.patch);
  return true;
}

/**
 * Multi-document YAML in, the same YAML out with podmeta injected into every opted-in pod template (with `all`:
 * every template not opted out). Throws InjectRefused (naming the workload and the annotation) when a template
 * carries an invalid setting, and Error for YAML that does not parse: then nothing should be written.
 */
export function injectYaml(text: string, options: InjectOptions): { text: string; reports: WorkloadReport[] } {
  const reports: WorkloadReport[] = [];
  const out: string[] = [];
  let pending: string[] = []; // source of comments/newlines/directives before the next document
  let index = 0;
  const tokens = [...new Parser().parse(text)];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.type !== 'document') {
      pending.push(CST.stringify(token));
      continue;
    }
    index++;
    const before = pending.join('');
    const source = CST.stringify(token);
    pending = [];
    // a document's own `...` end marker belongs to it
    let end = '';
    if (tokens[i + 1]?.type === 'doc-end') end = CST.stringify(tokens[++i]!);
    const composer = new Composer();
    const docs = [...composer.next(token), ...composer.end()] as Document[];
    const doc = docs[0];
    if (!doc) {
      out.push(before + source + end);
      continue;
    }
    if (doc.errors.length > 0) throw new Error(`document ${index}: ${doc.errors[0]!.message}`);
    const changed = injectObject(doc, doc.toJS(), [], options, reports);
    // untouched: its source, byte for byte; touched: re-rendered from its tree (comments and key order kept).
    // The comments before a document, and its `...` end marker, are kept as they were either way.
    out.push(before + (changed ? doc.toString({ lineWidth: 0, flowCollectionPadding: false }) : source) + end);
  }
  out.push(pending.join(''));
  return { text: out.join(''), reports };
}
