// The client's document types cannot drift from the server's: client/src/document.ts is generated from
// src/document.ts (checked here byte for byte), the two are type-identical (checked by the compiler: this
// file does not type-check when they differ, and `npm test` starts with tsc), and the client's type has
// exactly the fields of docs/openapi.yaml. Paths are typed (`get('pod/labels')` is a string map).
import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parse } from 'yaml';
import { generate, SOURCE, TARGET } from '../client/scripts/gen-types.mjs';
import type * as Server from '../src/document.js';
import type * as Client from '../client/src/document.js';
import type { PathValue } from '../client/src/paths.js';
import type { PodmetaClient, Watch } from '../client/src/index.js';
import { createTypeShapes } from './support/type-shapes.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

// ---- compile-time: identical both ways (a field added, removed or retyped on either side fails tsc) ----
const sameDocument: Equal<Client.MetadataDocument, Server.MetadataDocument> = true;
const samePod: Equal<Client.PodInfo, Server.PodInfo> = true;
const sameNode: Equal<Client.NodeInfo, Server.NodeInfo> = true;
const sameContainer: Equal<Client.ContainerInfo, Server.ContainerInfo> = true;
const sameResources: Equal<Client.ResourceValues, Server.ResourceValues> = true;
// ...and the check is not vacuous: it tells different types apart
const notVacuous: Equal<Client.PodInfo, Server.PodInfo & { extra?: string }> = false;

// ---- compile-time: typed paths ----
const paths: [
  Equal<PathValue<''>, Client.MetadataDocument>,
  Equal<PathValue<'pod/labels'>, Readonly<Record<string, string>>>,
  Equal<PathValue<'/pod/labels/'>, Readonly<Record<string, string>>>,
  Equal<PathValue<'pod/labels/app.kubernetes.io/name'>, string>,
  Equal<PathValue<'node/labels/topology.kubernetes.io/zone'>, string>,
  Equal<PathValue<'files/some/nested/file'>, string>,
  Equal<PathValue<'pod/name'>, string>,
  Equal<PathValue<'pod'>, Client.PodInfo>,
  Equal<PathValue<'pod/ips/0'>, string>,
  Equal<PathValue<'pod/containers/main'>, Client.ContainerInfo>,
  Equal<PathValue<'pod/containers/main/image'>, string>,
  Equal<PathValue<'pod/containers/0/resources/limits/memory'>, string>,
  Equal<PathValue<'resources/requests/cpuMillicores'>, number>,
  Equal<PathValue<'revision'>, number>,
  Equal<PathValue<'pod/nope'>, unknown>,
  Equal<PathValue<string>, unknown>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];
declare const pm: PodmetaClient;
const getDoc = () => pm.get();
const getLabels = () => pm.get('pod/labels');
const getZone = () => pm.get('node/labels/topology.kubernetes.io/zone');
const watchDoc = () => pm.watch();
const watchLabels = () => pm.watch('pod/labels');
const methodTypes: [
  Equal<Awaited<ReturnType<typeof getDoc>>, Client.MetadataDocument>,
  Equal<Awaited<ReturnType<typeof getLabels>>, Readonly<Record<string, string>>>,
  Equal<Awaited<ReturnType<typeof getZone>>, string>,
  Equal<ReturnType<typeof watchDoc>, Watch<Client.MetadataDocument>>,
  Equal<ReturnType<typeof watchLabels>, Watch<Readonly<Record<string, string>>>>,
  Equal<ReturnType<typeof watchLabels>['current'], Readonly<Record<string, string>> | undefined>,
] = [true, true, true, true, true, true];
void [sameDocument, samePod, sameNode, sameContainer, sameResources, notVacuous, paths, methodTypes];

test('client/src/document.ts is what the generator makes from src/document.ts (run `node client/scripts/gen-types.mjs`)', () => {
  assert.equal(readFileSync(TARGET, 'utf8'), generate(), 'client/src/document.ts is stale: run `node client/scripts/gen-types.mjs` and commit it');
});

test('the generator follows the server: a field added to src/document.ts changes the client types', () => {
  const src = readFileSync(SOURCE, 'utf8');
  const changed = src.replace('export interface NodeInfo {\n', 'export interface NodeInfo {\n  rack?: string;\n');
  assert.notEqual(changed, src, 'the edit applies');
  assert.match(generate(changed), /interface NodeInfo \{\n {2}rack\?: string;/);
  assert.notEqual(generate(changed), generate());
  // types the document does not use are not copied (the client has no business with sources' parts)
  assert.doesNotMatch(generate(), /SourcePart|ResourceReading|SourceStatus/);
  assert.throws(() => generate('export interface Other {}'), /MetadataDocument/);
});

// ---- the client type against docs/openapi.yaml: the same field paths, kinds and required sets ----
type Obj = Record<string, any>;

test('the client\'s MetadataDocument has exactly the fields of the OpenAPI MetadataDocument schema', () => {
  const spec = parse(readFileSync(path.resolve(import.meta.dirname, '..', 'docs', 'openapi.yaml'), 'utf8')) as Obj;
  const shapes = createTypeShapes({ Doc: { from: './client/src/document.js', name: 'MetadataDocument' } });
  const { checker } = shapes;
  const deref = (s: Obj): Obj => {
    let cur = s;
    while (typeof cur.$ref === 'string') cur = { ...spec.components.schemas[cur.$ref.split('/').pop()!], ...Object.fromEntries(Object.entries(cur).filter(([k]) => k !== '$ref')) };
    return cur;
  };
  const fromSchema = (s0: Obj, at: string, out: Set<string>): void => {
    const s = deref(s0);
    const t = s.type === 'integer' ? 'number' : s.type;
    if (t === 'array') return fromSchema(s.items ?? {}, `${at}[]`, out);
    if (t !== 'object') return void out.add(`${at}: ${t}`);
    if (s.additionalProperties) return fromSchema(s.additionalProperties, `${at}{}`, out);
    out.add(`${at}: object`);
    const req = new Set<string>(s.required ?? []);
    for (const [k, v] of Object.entries<Obj>(s.properties ?? {})) {
      out.add(`${at}.${k}${req.has(k) ? '' : '?'}`);
      fromSchema(v, `${at}.${k}`, out);
    }
  };
  const fromType = (t0: ts.Type, at: string, out: Set<string>): void => {
    const t = checker.getNonNullableType(t0);
    if (t.flags & ts.TypeFlags.StringLike || (t.isUnion() && t.types.every((m) => m.isStringLiteral()))) return void out.add(`${at}: string`);
    if (t.flags & ts.TypeFlags.NumberLike) return void out.add(`${at}: number`);
    if (t.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) return void out.add(`${at}: boolean`);
    if (checker.isArrayType(t)) return fromType(checker.getTypeArguments(t as ts.TypeReference)[0]!, `${at}[]`, out);
    const obj = shapes.objectPart(t) ?? t;
    const props = shapes.properties(obj);
    const index = obj.getStringIndexType();
    if (props.size === 0 && index) return fromType(index, `${at}{}`, out);
    out.add(`${at}: object`);
    for (const [k, p] of props) {
      out.add(`${at}.${k}${p.optional ? '?' : ''}`);
      fromType(p.type, `${at}.${k}`, out);
    }
  };
  const a = new Set<string>();
  const b = new Set<string>();
  fromSchema({ $ref: '#/components/schemas/MetadataDocument' }, '$', a);
  fromType(shapes.type('Doc'), '$', b);
  assert.ok(a.size > 30, `the schema walk found the fields (${a.size})`);
  assert.deepEqual([...b].sort(), [...a].sort());
});
