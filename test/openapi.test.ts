// docs/openapi.yaml: a valid OpenAPI 3.1 document that covers every endpoint of the contract, whose schemas accept
// the contract's example document, whose every example matches its schema, and whose document schema has exactly
// the fields of src/document.ts.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';
import { parse } from 'yaml';
import { Validator } from '@seriousme/openapi-schema-validator';
// ajv ships with @seriousme/openapi-schema-validator (OpenAPI 3.1 schemas are JSON Schema 2020-12)
import { Ajv2020 } from 'ajv/dist/2020.js';
import { createTypeShapes, type TypeShapes } from './support/type-shapes.js';
import { startAgent } from './support/agent.js';

const ROOT = path.resolve(import.meta.dirname, '..');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, any>;

let spec: Obj;
let ajv: Ajv2020;
let shapes: TypeShapes;
let version: string;

const METADATA_PATHS = ['/metadata', '/metadata/{path}', '/events', '/status'];
const PROBE_PATHS = ['/livez', '/healthz', '/readyz', '/metrics'];

/** Follow a local `$ref` (one level is enough for this document; loops are not expected). */
function deref(o: Obj): Obj {
  let cur = o;
  for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) {
    const ref: string = cur.$ref;
    assert.ok(ref.startsWith('#/'), `local ref ${ref}`);
    let target: any = spec;
    for (const seg of ref.slice(2).split('/')) target = target?.[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
    assert.ok(target, `ref ${ref} resolves`);
    cur = { ...target, ...Object.fromEntries(Object.entries(cur).filter(([k]) => k !== '$ref')) };
  }
  return cur;
}

const op = (p: string): Obj => {
  const o = spec.paths?.[p]?.get;
  assert.ok(o, `GET ${p} is documented`);
  return o;
};
const params = (p: string): Obj[] => (op(p).parameters ?? []).map(deref);
const param = (p: string, name: string, where: string): Obj | undefined =>
  params(p).find((x) => x.name === name && x.in === where);

/** Validate `value` against a schema of this document; returns ajv's error text or ''. */
function schemaErrors(schema: Obj, value: unknown): string {
  const validate = ajv.compile(schema);
  return validate(value) ? '' : ajv.errorsText(validate.errors);
}
const component = (name: string): Obj => ({ $ref: `openapi.json#/components/schemas/${name}` });

/** The contract's example document ("…" replaced by real-looking values). */
const CONTRACT_EXAMPLE: Json = {
  revision: 12,
  pod: {
    name: 'downward',
    namespace: 'default',
    uid: '1d591f87-4c6b-4b8e-9a4b-3b0c1e1b2a77',
    ip: '10.244.1.38',
    ips: ['10.244.1.38'],
    serviceAccount: 'default',
    labels: { foo: 'bar' },
    annotations: { key1: 'value1', key2: 'multi\nline\nvalue\n' },
    phase: 'Running',
    qosClass: 'Burstable',
    startTime: '2026-11-22T10:15:03Z',
    owner: { kind: 'ReplicaSet', name: 'web-5d9c7b8f4' },
    workload: { kind: 'Deployment', name: 'web' },
    containers: [
      {
        name: 'main',
        image: 'registry.example.com/web:1.4.2',
        ready: true,
        restartCount: 0,
        resources: { requests: { cpu: '15m' }, limits: { memory: '4Mi' } },
      },
    ],
  },
  node: {
    name: 'k8s-node1',
    hostIP: '10.10.10.149',
    hostIPs: ['10.10.10.149'],
    labels: { 'topology.kubernetes.io/zone': 'eu-west-1a' },
  },
  resources: {
    requests: { cpu: '15m', cpuMillicores: 15, memory: '100Ki', memoryBytes: 102400 },
    limits: { cpu: '100m', cpuMillicores: 100, memory: '4Mi', memoryBytes: 4194304 },
  },
  files: { someOtherItem: 'raw text' },
};

before(async () => {
  const [text, pkg] = await Promise.all([
    readFile(path.join(ROOT, 'docs', 'openapi.yaml'), 'utf8'),
    readFile(path.join(ROOT, 'package.json'), 'utf8'),
  ]);
  spec = parse(text) as Obj;
  version = (JSON.parse(pkg) as { version: string }).version;
  ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  ajv.addSchema({ $id: 'openapi.json', components: spec.components }, 'openapi.json');
  shapes = createTypeShapes({
    MetadataDocument: { from: './src/document.js', name: 'MetadataDocument' },
    SourceStatus: { from: './src/document.js', name: 'SourceStatus' },
  });
});

describe('docs/openapi.yaml', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const res = await validator.validate(spec);
    assert.deepEqual(res.errors ?? [], []);
    assert.equal(res.valid, true);
    assert.equal(validator.version, '3.1');
    assert.equal(spec.info.version, version, 'info.version follows package.json');
  });

  it('the validator rejects a broken copy', async () => {
    const broken = structuredClone(spec);
    broken.paths['/metadata'].get.responses = { 200: { content: {} } }; // a response needs a description
    const res = await new Validator().validate(broken);
    assert.equal(res.valid, false);
  });

  it('documents every endpoint of the contract, GET only, with unique operation ids', () => {
    assert.deepEqual(Object.keys(spec.paths).sort(), [...METADATA_PATHS, ...PROBE_PATHS].sort());
    const ids: string[] = [];
    for (const [p, item] of Object.entries<Obj>(spec.paths)) {
      const methods = Object.keys(item).filter((k) => !['servers', 'parameters', 'summary', 'description'].includes(k));
      assert.deepEqual(methods, ['get'], p);
      ids.push(item.get.operationId);
    }
    assert.equal(new Set(ids).size, ids.length);
  });

  it('metadata endpoints require `Metadata: true` and document the 403; probes need no header and use 9978', () => {
    for (const p of METADATA_PATHS) {
      const h = param(p, 'Metadata', 'header');
      assert.ok(h, `${p} documents the Metadata header`);
      assert.equal(h.required, true, p);
      assert.equal(h.schema.const, 'true', p);
      assert.ok(op(p).responses['403'], `${p} documents 403`);
      assert.equal(spec.paths[p].servers, undefined, `${p} is served on the default (metadata) server`);
    }
    assert.equal(spec.servers[0].url, 'http://127.0.0.1:9977');
    assert.match(deref(op('/metadata').responses['403']).description, /X-Forwarded-For/);
    for (const p of PROBE_PATHS) {
      assert.equal(param(p, 'Metadata', 'header'), undefined, `${p} needs no header`);
      assert.match(spec.paths[p].servers[0].url, /:9978$/, p);
    }
  });

  it('long-poll, conditional requests, text format, SSE resume and verbose readiness are all there', () => {
    for (const p of ['/metadata', '/metadata/{path}']) {
      assert.ok(param(p, 'If-None-Match', 'header'), p);
      assert.equal(param(p, 'wait', 'query')?.schema.type, 'boolean', p);
      const timeout = param(p, 'timeout', 'query')?.schema;
      assert.deepEqual([timeout?.default, timeout?.maximum], [60, 300], p);
      assert.ok(param(p, 'etag', 'query'), p);
      assert.deepEqual(param(p, 'format', 'query')?.schema.enum, ['json', 'text'], p);
      assert.ok(param(p, 'Accept', 'header'), p);
      assert.ok(op(p).responses['200'].content['text/plain'], `${p} documents the text format`);
      assert.ok(deref(op(p).responses['503']).headers['Retry-After'], `${p} documents the stream limit`);
      const ok = op(p).responses['200'];
      assert.ok(ok.headers.ETag && ok.headers['Cache-Control'], `${p} 200 has ETag and Cache-Control`);
      assert.ok(deref(op(p).responses['304']).headers.ETag, `${p} documents 304`);
      assert.ok(op(p).responses['400'], `${p} documents 400`);
    }
    assert.equal(param('/metadata/{path}', 'path', 'path')?.required, true);
    assert.ok(op('/metadata/{path}').responses['404']);
    assert.ok(param('/events', 'Last-Event-ID', 'header'));
    assert.ok(param('/events', 'lastEventId', 'query'));
    assert.ok(param('/events', 'path', 'query'));
    assert.ok(op('/events').responses['200'].content['text/event-stream']);
    assert.ok(param('/readyz', 'verbose', 'query'));
    assert.ok(op('/readyz').responses['503']);
    assert.ok(op('/metrics').responses['200'].content['text/plain']);
  });

  it('every JSON error response uses the {code, reason, message} error body', () => {
    let n = 0;
    for (const [p, item] of Object.entries<Obj>(spec.paths))
      for (const [status, r] of Object.entries<Obj>(item.get.responses)) {
        if (Number(status) < 400) continue;
        if (p === '/readyz' && status === '503') {
          // a probe answer (text, like kube-apiserver's /readyz), not an error body
          assert.ok(deref(r).content['text/plain'], '/readyz 503 is text');
          continue;
        }
        const json = deref(r).content?.['application/json'];
        assert.ok(json, `${p} ${status} has a JSON body`);
        assert.equal(json.schema.$ref, '#/components/schemas/Error', `${p} ${status}`);
        n++;
      }
    assert.ok(n >= 10);
    assert.deepEqual(deref(spec.components.schemas.Error).required, ['code', 'reason', 'message']);
  });

  it('the document schema accepts the contract example and rejects what the contract forbids', () => {
    assert.equal(schemaErrors(component('MetadataDocument'), CONTRACT_EXAMPLE), '');
    assert.equal(schemaErrors(component('MetadataDocument'), { revision: 0, pod: {}, node: {}, resources: {} }), '');
    const bad: Array<[string, (d: any) => void, RegExp]> = [
      ['null instead of absent', (d) => (d.pod.ip = null), /pod\/ip must be string/],
      ['revision as a string', (d) => (d.revision = '12'), /revision must be integer/],
      ['no pod', (d) => delete d.pod, /must have required property 'pod'/],
      ['non-canonical quantity', (d) => (d.resources.limits.cpu = '0.1'), /limits\/cpu must match pattern/],
      ['fractional bytes', (d) => (d.resources.limits.memoryBytes = 1.5), /memoryBytes must be integer/],
      ['label value not a string', (d) => (d.pod.labels.foo = 1), /labels\/foo must be string/],
      ['owner without name', (d) => delete d.pod.owner.name, /must have required property 'name'/],
    ];
    for (const [name, mutate, expected] of bad) {
      const d = structuredClone(CONTRACT_EXAMPLE);
      mutate(d);
      assert.match(schemaErrors(component('MetadataDocument'), d), expected, name);
    }
  });

  it('every example matches its schema', () => {
    let n = 0;
    const check = (where: string, schema: Obj | undefined, media: Obj) => {
      if (!schema) return;
      const examples: Array<[string, unknown]> = [];
      if ('example' in media) examples.push(['example', media.example]);
      for (const [k, e] of Object.entries<Obj>(media.examples ?? {})) examples.push([k, deref(e).value]);
      for (const [k, value] of examples) {
        const wrapped: Obj = schema.$ref ? { $ref: `openapi.json${schema.$ref}` } : rebase(schema);
        assert.equal(schemaErrors(wrapped, value), '', `${where} example ${k}`);
        n++;
      }
    };
    for (const [p, item] of Object.entries<Obj>(spec.paths)) {
      for (const prm of params(p)) check(`${p} parameter ${prm.name}`, prm.schema, prm);
      for (const [status, r] of Object.entries<Obj>(item.get.responses))
        for (const [type, media] of Object.entries<Obj>(deref(r).content ?? {}))
          check(`${p} ${status} ${type}`, media.schema, media);
    }
    for (const [name, r] of Object.entries<Obj>(spec.components.responses))
      for (const [type, media] of Object.entries<Obj>(r.content ?? {})) check(`response ${name} ${type}`, media.schema, media);
    assert.ok(n >= 15, `checked ${n} examples`);
  });

  it('the SSE change event and the status schema accept what the contract shows', () => {
    const change = { revision: 13, patch: [{ op: 'replace', path: '/pod/labels/foo', value: 'test' }] };
    assert.equal(schemaErrors(component('ChangeEvent'), change), '');
    assert.match(schemaErrors(component('ChangeEvent'), { revision: 13, patch: [{ op: 'merge', path: '/x' }] }), /must be equal to one of the allowed values/);
    const status = { sources: Object.fromEntries(['env', 'downward', 'api', 'node'].map((s) => [s, { state: 'ok', since: '2026-11-22T10:15:03Z' }])) };
    assert.equal(schemaErrors(component('Status'), status), '');
    status.sources.api = { state: 'broken', since: 'x' };
    assert.match(schemaErrors(component('Status'), status), /state must be equal to one of the allowed values/);
  });

  it('the document and status schemas have exactly the fields of src/document.ts', () => {
    const problems: string[] = [];
    compareToType(shapes.type('MetadataDocument'), component('MetadataDocument'), 'MetadataDocument', problems);
    compareToType(shapes.type('SourceStatus'), component('SourceStatus'), 'SourceStatus', problems);
    assert.deepEqual(problems, []);
  });

  it('the running agent answers exactly as documented (status, media type, body schema)', async (t) => {
    const a = await startAgent(t);
    const first = await a.get('/metadata');
    const etag = first.headers.get('etag') ?? '';
    await first.arrayBuffer();
    assert.notEqual(etag, '');
    const H = { Metadata: 'true' };
    const cases: Array<[string, string, Record<string, string>, number]> = [
      [a.base, '/metadata', H, 200],
      [a.base, '/metadata?format=text', H, 200],
      [a.base, '/metadata', { ...H, 'If-None-Match': etag }, 304],
      [a.base, `/metadata?wait=true&timeout=0&etag=${encodeURIComponent(etag)}`, H, 304],
      [a.base, '/metadata?timeout=soon', H, 400],
      [a.base, '/metadata', {}, 403],
      [a.base, '/metadata', { ...H, 'X-Forwarded-For': '203.0.113.9' }, 403],
      [a.base, '/metadata/pod/labels', H, 200],
      [a.base, '/metadata/pod/labels?format=text', H, 200],
      [a.base, '/metadata/pod/labels', { ...H, Accept: 'text/plain' }, 200],
      [a.base, '/metadata/pod/name?format=text', H, 200],
      [a.base, '/metadata/pod/labels/nope', H, 404],
      [a.base, '/metadata/pod/name?format=yaml', H, 400],
      [a.base, '/status', H, 200],
      [a.base, '/events', {}, 403],
      [a.probe, '/livez', {}, 200],
      [a.probe, '/healthz', {}, 200],
      [a.probe, '/readyz', {}, 200],
      [a.probe, '/readyz?verbose', {}, 200],
      [a.probe, '/metrics', {}, 200],
    ];
    for (const [base, url, headers, expected] of cases) {
      const res = await fetch(base + url, { headers });
      const body = await res.text();
      const where = `GET ${url} ${JSON.stringify(headers)}`;
      assert.equal(res.status, expected, `${where}: ${body}`);
      assert.equal(conformance(new URL(url, 'http://x').pathname, res.status, res.headers.get('content-type'), body), '', where);
      if (base === a.base) assert.equal(res.headers.get('cache-control'), 'no-store', where);
    }
    // the event stream: documented type, and its snapshot is a MetadataDocument
    const ac = new AbortController();
    const res = await fetch(`${a.base}/events`, { headers: H, signal: ac.signal });
    assert.equal(conformance('/events', res.status, res.headers.get('content-type'), ''), '');
    const reader = res.body!.getReader();
    let text = '';
    while (!/\n\n[\s\S]*\n\n/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ac.abort();
    await reader.cancel().catch(() => {});
    assert.match(text, /^retry: \d+\n\n/);
    const snapshot = /event: snapshot\nid: [^\n]+\ndata: ([^\n]*)\n\n/.exec(text);
    assert.ok(snapshot, text);
    assert.equal(schemaErrors(component('MetadataDocument'), JSON.parse(snapshot[1]!)), '');
    // a wrong method: the documented 405 error body
    const post = await fetch(`${a.base}/metadata`, { method: 'POST', headers: H });
    assert.equal(post.status, 405);
    assert.equal(schemaErrors(component('Error'), await post.json()), '');
  });

  it('the type comparison notices drift', () => {
    const problems: string[] = [];
    const drifted = structuredClone(spec.components.schemas.PodInfo);
    delete drifted.properties.qosClass;
    drifted.properties.hostname = { type: 'string' };
    drifted.properties.ips = { type: 'string' };
    const pod = shapes.properties(shapes.objectPart(shapes.type('MetadataDocument'))!).get('pod')!.type;
    compareToType(pod, drifted, 'PodInfo', problems);
    assert.deepEqual(problems.sort(), [
      'PodInfo.hostname: in the schema, not in src/document.ts',
      'PodInfo.ips: src/document.ts has an array, the schema says string',
      'PodInfo.qosClass: in src/document.ts, not in the schema',
    ]);
  });
});

/** '' when a response is one the document describes for GET `pathname`; otherwise what differs. */
function conformance(pathname: string, status: number, contentType: string | null, body: string): string {
  const template = Object.keys(spec.paths).find((p) =>
    new RegExp(`^${p.replace(/\{[^}]+\}/g, '.+')}$`).test(pathname),
  );
  if (!template) return `${pathname} is not documented`;
  const response = op(template).responses[String(status)];
  if (!response) return `${template}: status ${status} is not documented`;
  const content: Obj = deref(response).content ?? {};
  if (Object.keys(content).length === 0) return body === '' ? '' : `${template} ${status}: a body where none is documented`;
  const media = (contentType ?? '').split(';')[0]!.trim();
  const doc = content[media];
  if (!doc) return `${template} ${status}: ${media || 'no content type'} is not documented (${Object.keys(content).join(', ')})`;
  if (body === '' && media === 'text/event-stream') return '';
  const value: unknown = media === 'application/json' ? JSON.parse(body) : body;
  const schema: Obj = doc.schema?.$ref ? { $ref: `openapi.json${doc.schema.$ref}` } : rebase(doc.schema ?? {});
  const errors = schemaErrors(schema, value);
  return errors === '' ? '' : `${template} ${status} ${media}: ${errors}`;
}

/** A schema taken out of the document: point its local refs at the registered copy. */
function rebase(schema: Obj): Obj {
  return JSON.parse(JSON.stringify(schema).replace(/"\$ref":"#\//g, '"$ref":"openapi.json#/')) as Obj;
}

function resolveSchema(s: Obj): Obj {
  if (typeof s.$ref === 'string') {
    const ref = s.$ref.replace(/^openapi\.json/, '');
    return resolveSchema(deref({ ...s, $ref: ref }));
  }
  return s;
}

/** Compare a TypeScript type with a JSON schema: same property names, same required set, same shapes. */
function compareToType(t: ts.Type, schemaIn: Obj, at: string, out: string[]): void {
  const { checker } = shapes;
  const schema = resolveSchema(schemaIn);
  const nn = checker.getNonNullableType(t);
  const flags = nn.flags;
  const kind = (): string => {
    if (flags & ts.TypeFlags.Boolean || flags & ts.TypeFlags.BooleanLiteral) return 'boolean';
    if (flags & ts.TypeFlags.StringLike) return 'string';
    if (flags & ts.TypeFlags.NumberLike) return 'number';
    if (nn.isUnion() && nn.types.every((m) => m.isStringLiteral())) return 'string';
    if (flags & (ts.TypeFlags.Unknown | ts.TypeFlags.Any)) return 'any';
    if (checker.isArrayType(nn)) return 'array';
    return 'object';
  };
  const k = kind();
  const schemaType: string | undefined = schema.type === 'integer' ? 'number' : schema.type;
  if (k === 'any') return;
  if (schemaType !== k) {
    out.push(`${at}: src/document.ts has ${k === 'array' ? 'an array' : `a ${k}`}, the schema says ${schema.type ?? 'nothing'}`);
    return;
  }
  if (nn.isUnion() && nn.types.every((m) => m.isStringLiteral())) {
    const values = nn.types.map((m) => (m as ts.StringLiteralType).value).sort();
    if (JSON.stringify(values) !== JSON.stringify([...(schema.enum ?? [])].sort()))
      out.push(`${at}: values ${values.join('|')} vs schema enum ${(schema.enum ?? []).join('|')}`);
    return;
  }
  if (k === 'array') {
    const elem = checker.getTypeArguments(nn as ts.TypeReference)[0];
    if (elem) compareToType(elem, schema.items ?? {}, `${at}[]`, out);
    return;
  }
  if (k !== 'object') return;
  const obj = shapes.objectPart(nn) ?? nn;
  const props = shapes.properties(obj);
  const index = obj.getStringIndexType();
  if (props.size === 0 && index) {
    const ap = schema.additionalProperties;
    if (ap && typeof ap === 'object') compareToType(index, ap, `${at}[key]`, out);
    else if (!(index.flags & (ts.TypeFlags.Unknown | ts.TypeFlags.Any)))
      out.push(`${at}: src/document.ts has a map, the schema does not say what its values are`);
    return;
  }
  const sprops: Obj = schema.properties ?? {};
  for (const [name, p] of props) {
    if (!(name in sprops)) out.push(`${at}.${name}: in src/document.ts, not in the schema`);
    else compareToType(p.type, sprops[name], `${at}.${name}`, out);
  }
  for (const name of Object.keys(sprops))
    if (!props.has(name)) out.push(`${at}.${name}: in the schema, not in src/document.ts`);
  const required = [...props].filter(([, p]) => !p.optional).map(([n]) => n).sort();
  const sreq = [...(schema.required ?? [])].sort();
  if (JSON.stringify(required) !== JSON.stringify(sreq))
    out.push(`${at}: required ${required.join(',') || '(none)'} in src/document.ts, ${sreq.join(',') || '(none)'} in the schema`);
}
