// A fake Kubernetes API server that speaks the real wire protocol, for tests and benches:
//   HTTPS with the test PKI; bearer-token auth with a rotatable set of accepted tokens; per resource/verb
//   RBAC with real `Status` bodies; pods and nodes with a global resourceVersion counter and an event
//   history; list (fieldSelector metadata.name=…), get, and chunked line-delimited watch streams
//   (resume from an RV, ERROR 410 inside a 200 stream once the history is compacted, BOOKMARKs on demand
//   or periodic, server-side timeoutSeconds); fault injection (any status with Retry-After, half-open
//   streams, hanging requests, dropped streams); writes split at awkward byte boundaries; a request log;
//   discovery (/api, /api/v1, /apis, /version) so `kubectl get --raw` works through a proxy; a generic
//   handler hook for anything else.
// Protocols as kube-apiserver (Go net/http) offers them: HTTP/2 by ALPN `h2` (advertising
// SETTINGS_MAX_CONCURRENT_STREAMS 250, Go's default) and HTTP/1.1 for clients that do not offer `h2`;
// `http2: false` offers HTTP/1.1 only (a server behind an HTTP/1.1-only load balancer). On h2 the handler
// hook gets Node's compat request/response (`Host` filled from `:authority`, as Go's `r.Host`; connection
// headers a handler sets are dropped, as Go's h2 server drops them); `cut(res)` aborts one response mid-body
// on either protocol (h2: RST_STREAM, h1: the socket).

import https from 'node:https';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { testPki, type TestPki } from './certs.js';
import { eventually } from './wait.js';

export type Resource = 'pods' | 'nodes';
export type Verb = 'get' | 'list' | 'watch';

export interface RequestRecord {
  /** Date.now() when the request arrived */
  time: number;
  method: string;
  path: string;
  query: Record<string, string>;
  resource?: Resource;
  verb?: Verb;
  /** whether the Authorization header carried an accepted token */
  auth: 'valid' | 'invalid' | 'none';
  /** the answer's status (200 for watches, also when they later carry an ERROR event) */
  status: number;
}

/** One request as the fake's HTTP parser saw it (see FakeApiServer.wire). */
export interface WireRecord {
  /** TLS connection number (1, 2, …) */
  conn: number;
  /** the protocol the request came over: '2.0' (h2) or '1.1' */
  httpVersion: string;
  method: string;
  url: string;
  /** the bearer token it carried, if any */
  token: string | undefined;
}

export interface FaultMatch {
  resource?: Resource;
  verb?: Verb;
}

export type FaultAction =
  /** answer with this HTTP status and a Status body (Retry-After header if given, in seconds) */
  | { status: number; retryAfter?: number; reason?: string; message?: string }
  /** 200 + headers, then silence forever (a half-open connection) */
  | { halfOpen: true }
  /** accept the request and never answer */
  | { hang: true };

export interface FakeApiServerOptions {
  pki?: TestPki;
  /** accepted bearer tokens (default ['test-token']) */
  tokens?: string[];
  /** the user a valid token authenticates as (appears in Forbidden messages) */
  user?: string;
  /** listen address (default 127.0.0.1) */
  host?: string;
  /** a watch's server-side timeout is timeoutSeconds × 1000 × timeScale ms (default 1) */
  timeScale?: number;
  /** send a BOOKMARK this often to every watch that allowed bookmarks (default: never; see bookmark()) */
  bookmarkIntervalMs?: number;
  /** split every watch line into pieces at these offsets (bytes) and write them apart */
  splitWatchLines?: (line: Buffer) => number[];
  /**
   * Watch-list streaming (`sendInitialEvents=true`, 1.27+ behind the WatchList gate, beta 1.32): true (default)
   * serves it — ADDED for the current state, then a BOOKMARK annotated `k8s.io/initial-events-end: "true"`,
   * then live events; false refuses it like a server with the gate off (422 Invalid). The parameters are
   * validated as the real API server validates them.
   */
  watchList?: boolean;
  /** offer HTTP/2 (ALPN h2) besides HTTP/1.1, like kube-apiserver (default true); false: HTTP/1.1 only */
  http2?: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS advertised on h2 (default 250, Go's http2 server default) */
  maxConcurrentStreams?: number;
  /** a hook that sees every request first; return true when it answered */
  handler?: (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
}

interface StoredEvent {
  rv: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  resource: Resource;
  namespace: string | undefined;
  name: string;
  object: Kube;
}

/** A stored object: metadata typed, the rest free-form. */
export interface Kube {
  kind?: string;
  apiVersion?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

interface Watcher {
  resource: Resource;
  namespace: string | undefined;
  name: string | undefined;
  bookmarks: boolean;
  res: ServerResponse;
  queue: Promise<void>;
  timers: NodeJS.Timeout[];
  closed: boolean;
}

const clone = <T>(v: T): T => structuredClone(v);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function statusBody(code: number, reason: string, message: string, details?: Record<string, unknown>): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code });
}

export class FakeApiServer {
  readonly requests: RequestRecord[] = [];
  private tokens: Set<string>;
  private readonly seenTokens = new Set<string>();
  private readonly forbidden = new Set<string>();
  private faults: { match: FaultMatch; action: FaultAction; times: number }[] = [];
  private readonly pods = new Map<string, Kube>();
  private readonly nodes = new Map<string, Kube>();
  private history: StoredEvent[] = [];
  private rv = 1000;
  private compactedRv = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly sockets = new Set<Socket>();
  private readonly parked = new Set<ServerResponse>();
  private server!: https.Server | http2.Http2SecureServer;
  private readonly sessions = new Set<ServerHttp2Session>();
  private refusing = 0;
  private periodic: NodeJS.Timeout | undefined;
  url!: URL;
  caPem = '';

  private constructor(private readonly o: FakeApiServerOptions) {
    this.tokens = new Set(o.tokens ?? ['test-token']);
  }

  static async start(o: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(o);
    await s.listen();
    return s;
  }

  private async listen(): Promise<void> {
    const pki = this.o.pki ?? (await testPki());
    this.caPem = pki.caPem;
    const serve = (rq: IncomingMessage | Http2ServerRequest, rs: ServerResponse | Http2ServerResponse): void => {
      if (rq.httpVersionMajor === 2 && this.refusing > 0) {
        this.refusing--;
        (rs as Http2ServerResponse).stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      const { req, res } = asHttp1(rq, rs);
      void this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.sendStatus(res, 500, 'InternalError', String(err));
        else res.destroy();
      });
    };
    if (this.o.http2 === false) {
      this.server = https.createServer({ cert: pki.certPem, key: pki.keyPem, keepAliveTimeout: 60_000 }, serve);
    } else {
      const h2 = http2.createSecureServer({ cert: pki.certPem, key: pki.keyPem, allowHTTP1: true, settings: { maxConcurrentStreams: this.o.maxConcurrentStreams ?? 250 } }, serve);
      (h2 as unknown as { keepAliveTimeout: number }).keepAliveTimeout = 60_000; // the HTTP/1.1 connections
      h2.on('session', (session: ServerHttp2Session) => {
        this.sessions.add(session);
        this.h2Sessions++;
        session.once('close', () => this.sessions.delete(session));
        session.on('error', () => {}); // a client that went away mid-frame
      });
      this.server = h2;
    }
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    this.server.on('tlsClientError', () => {
      /* a client that distrusts our certificate: nothing to record, no request arrived */
    });
    this.instrumentWire();
    const host = this.o.host ?? '127.0.0.1';
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    const { port } = this.server.address() as { port: number };
    this.url = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`);
    if (this.o.bookmarkIntervalMs) this.periodic = setInterval(() => this.bookmark(), this.o.bookmarkIntervalMs);
  }

  get host(): string {
    return this.url.hostname.replace(/^\[(.*)\]$/, '$1');
  }

  get port(): string {
    return this.url.port;
  }

  /** the current (global) resourceVersion */
  get resourceVersion(): number {
    return this.rv;
  }

  /** open watch streams */
  get watchCount(): number {
    return this.watchers.size;
  }

  // ---- auth and RBAC ---------------------------------------------------------------------------

  /** Replace the set of accepted tokens (rotation). Open watches are not re-authenticated (like a real server). */
  setTokens(tokens: string[]): void {
    this.tokens = new Set(tokens);
  }

  /** Whether any request (valid or not) carried this token. */
  sawToken(token: string): boolean {
    return this.seenTokens.has(token);
  }

  forbid(resource: Resource, verb: Verb): void {
    this.forbidden.add(`${resource}:${verb}`);
  }

  allow(resource: Resource, verb: Verb): void {
    this.forbidden.delete(`${resource}:${verb}`);
  }

  // ---- faults ----------------------------------------------------------------------------------

  /** The next `times` requests matching `match` get `action` instead of a normal answer. */
  fail(match: FaultMatch, action: FaultAction, times = 1): void {
    this.faults.push({ match, action, times });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Cut every open watch mid-stream: h1 destroys its socket, h2 resets its stream (the session lives on). */
  dropWatches(): number {
    const n = this.watchers.size;
    for (const w of [...this.watchers]) {
      this.closeWatcher(w);
      this.cut(w.res);
    }
    return n;
  }

  /** the responses of the open watches, oldest first (for cut()) */
  watchResponses(): ServerResponse[] {
    return [...this.watchers].map((w) => w.res);
  }

  /** Abort one response mid-body: h2 → RST_STREAM (INTERNAL_ERROR) on its stream only; h1 → destroy its socket. */
  cut(res: ServerResponse): void {
    const stream = (res as unknown as Partial<Http2ServerResponse>).stream;
    if (stream) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    else res.socket?.destroy();
  }

  /** The next `n` h2 requests are reset with REFUSED_STREAM before any answer (not processed: a client may retry). */
  refuseStreams(n: number): void {
    this.refusing = n;
  }

  /** A network drop: every TCP connection (h2 sessions with all their streams, h1 sockets) is destroyed. */
  dropConnections(): number {
    const n = this.sockets.size;
    for (const w of [...this.watchers]) this.closeWatcher(w);
    for (const s of this.sockets) s.destroy();
    return n;
  }

  /**
   * GOAWAY on every h2 session (as kube-apiserver's --goaway-chance does): streams already open finish,
   * the client opens a new connection for new requests; the session closes once its streams are done.
   */
  goaway(): number {
    let n = 0;
    for (const session of this.sessions) {
      if (session.closed || session.destroyed) continue;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR);
      session.close();
      n++;
    }
    return n;
  }

  /** End all open watches cleanly (like a server-side timeout). */
  endWatches(): number {
    const n = this.watchers.size;
    for (const w of [...this.watchers]) {
      this.closeWatcher(w);
      w.res.end();
    }
    return n;
  }

  /** Forget the history up to now: a watch from an older RV gets ERROR 410 (etcd compaction). */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** Send a BOOKMARK with the current RV to every watch that allowed bookmarks. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const kind = w.resource === 'pods' ? 'Pod' : 'Node';
      this.write(w, { type: 'BOOKMARK', object: { kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv) } } });
    }
  }

  /** Write raw bytes to every open watch (pieces written apart, `gapMs` between them). */
  async sendRaw(pieces: (string | Buffer)[], gapMs = 2): Promise<void> {
    for (const w of this.watchers) {
      w.queue = w.queue.then(async () => {
        for (const p of pieces) {
          if (w.closed) return;
          w.res.write(p);
          await sleep(gapMs);
        }
      });
    }
    await Promise.all([...this.watchers].map((w) => w.queue));
  }

  // ---- objects ---------------------------------------------------------------------------------

  putPod(pod: Kube): Kube {
    return this.put('pods', pod);
  }

  putNode(node: Kube): Kube {
    return this.put('nodes', node);
  }

  modifyPod(namespace: string, name: string, change: (pod: Kube) => void): Kube {
    return this.modify('pods', key(namespace, name), change);
  }

  modifyNode(name: string, change: (node: Kube) => void): Kube {
    return this.modify('nodes', key(undefined, name), change);
  }

  deletePod(namespace: string, name: string): void {
    this.remove('pods', key(namespace, name));
  }

  /**
   * An in-place resize as the API server shows it (`kubectl patch --subresource resize`): the spec's
   * resources (the desired values) change and the Pod gets a PodResizePending or PodResizeInProgress
   * condition; the status still reports what the container runs with. One MODIFIED event.
   */
  requestResize(namespace: string, name: string, container: string, resources: { requests?: Record<string, string>; limits?: Record<string, string> }, condition: 'PodResizePending' | 'PodResizeInProgress' = 'PodResizeInProgress'): Kube {
    return this.modifyPod(namespace, name, (p) => {
      const spec = p.spec as { containers: { name: string; resources?: unknown }[]; initContainers?: { name: string; resources?: unknown }[] };
      const c = [...spec.containers, ...(spec.initContainers ?? [])].find((x) => x.name === container);
      if (!c) throw new Error(`no container ${container}`);
      c.resources = structuredClone(resources);
      const status = p.status as { conditions?: { type: string; status: string; lastTransitionTime?: string; reason?: string }[] };
      status.conditions = [...(status.conditions ?? []).filter((x) => x.type !== condition), { type: condition, status: 'True', lastTransitionTime: new Date().toISOString(), ...(condition === 'PodResizePending' ? { reason: 'Deferred' } : {}) }];
    });
  }

  /**
   * The kubelet finished the resize: spec unchanged; every container status reports the spec's resources
   * (resources + allocatedResources) and the resize conditions are gone. One MODIFIED event, RV bumped.
   */
  completeResize(namespace: string, name: string): Kube {
    return this.modifyPod(namespace, name, (p) => {
      type C = { name: string; resources?: { requests?: Record<string, string>; limits?: Record<string, string> } };
      const spec = p.spec as { containers: C[]; initContainers?: C[] };
      const status = p.status as { conditions?: { type: string }[]; containerStatuses?: Record<string, unknown>[]; initContainerStatuses?: Record<string, unknown>[] };
      for (const [specs, statuses] of [[spec.containers, status.containerStatuses], [spec.initContainers ?? [], status.initContainerStatuses ?? []]] as const) {
        for (const st of statuses ?? []) {
          const c = specs.find((x) => x.name === st.name);
          if (!c) continue;
          st.resources = structuredClone(c.resources ?? {});
          st.allocatedResources = structuredClone(c.resources?.requests ?? {});
        }
      }
      status.conditions = (status.conditions ?? []).filter((x) => x.type !== 'PodResizePending' && x.type !== 'PodResizeInProgress');
    });
  }

  deleteNode(name: string): void {
    this.remove('nodes', key(undefined, name));
  }

  getPod(namespace: string, name: string): Kube | undefined {
    return clone(this.pods.get(key(namespace, name)));
  }

  private store(resource: Resource): Map<string, Kube> {
    return resource === 'pods' ? this.pods : this.nodes;
  }

  private put(resource: Resource, obj: Kube): Kube {
    const k = key(resource === 'pods' ? obj.metadata.namespace ?? 'default' : undefined, obj.metadata.name);
    const exists = this.store(resource).has(k);
    return this.commit(resource, k, clone(obj), exists ? 'MODIFIED' : 'ADDED');
  }

  private modify(resource: Resource, k: string, change: (o: Kube) => void): Kube {
    const cur = this.store(resource).get(k);
    if (!cur) throw new Error(`no ${resource} ${k}`);
    const next = clone(cur);
    change(next);
    return this.commit(resource, k, next, 'MODIFIED');
  }

  private remove(resource: Resource, k: string): void {
    const cur = this.store(resource).get(k);
    if (!cur) throw new Error(`no ${resource} ${k}`);
    this.store(resource).delete(k);
    const obj = clone(cur);
    obj.metadata.resourceVersion = String(++this.rv);
    this.emit({ rv: this.rv, type: 'DELETED', resource, namespace: obj.metadata.namespace, name: obj.metadata.name, object: obj });
  }

  private commit(resource: Resource, k: string, obj: Kube, type: 'ADDED' | 'MODIFIED'): Kube {
    obj.metadata.resourceVersion = String(++this.rv);
    this.store(resource).set(k, obj);
    this.emit({ rv: this.rv, type, resource, namespace: obj.metadata.namespace, name: obj.metadata.name, object: clone(obj) });
    return clone(obj);
  }

  private emit(ev: StoredEvent): void {
    this.history.push(ev);
    for (const w of this.watchers) if (matches(w, ev)) this.write(w, { type: ev.type, object: ev.object });
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private record(req: IncomingMessage, url: URL, auth: RequestRecord['auth'], status: number, resource?: Resource, verb?: Verb): void {
    const r: RequestRecord = { time: Date.now(), method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), auth, status };
    if (resource) r.resource = resource;
    if (verb) r.verb = verb;
    this.requests.push(r);
  }

  private sendStatus(res: ServerResponse, code: number, reason: string, message: string, details?: Record<string, unknown>, headers: Record<string, string> = {}): void {
    res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
    res.end(statusBody(code, reason, message, details));
  }

  private sendJson(res: ServerResponse, body: unknown): void {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const header = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : undefined;
    if (token !== undefined) this.seenTokens.add(token);
    const auth: RequestRecord['auth'] = token === undefined ? 'none' : this.tokens.has(token) ? 'valid' : 'invalid';
    if (this.o.handler && (await this.o.handler(req, res, url))) {
      this.record(req, url, auth, res.statusCode);
      return;
    }
    const target = parsePath(url);
    const verb: Verb | undefined = target ? (target.name ? 'get' : isTrue(url.searchParams.get('watch')) ? 'watch' : 'list') : undefined;
    if (auth !== 'valid') {
      this.record(req, url, auth, 401, target?.resource, verb);
      this.sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.record(req, url, auth, 405, target?.resource, verb);
      this.sendStatus(res, 405, 'MethodNotAllowed', `the fake API server is read-only (${req.method})`);
      return;
    }
    if (!target) {
      const body = this.discovery(url.pathname);
      this.record(req, url, auth, body ? 200 : 404);
      if (body) this.sendJson(res, body);
      else this.sendStatus(res, 404, 'NotFound', 'the server could not find the requested resource', {});
      return;
    }
    const { resource, namespace, name } = target;
    const fault = this.takeFault(resource, verb!);
    if (fault) {
      if ('hang' in fault) {
        this.record(req, url, auth, 0, resource, verb);
        this.parked.add(res);
        res.once('close', () => this.parked.delete(res));
        return;
      }
      if ('halfOpen' in fault) {
        this.record(req, url, auth, 200, resource, verb);
        res.writeHead(200, { 'Content-Type': 'application/json', ...chunked(req) });
        res.flushHeaders();
        this.parked.add(res);
        res.once('close', () => this.parked.delete(res));
        return;
      }
      this.record(req, url, auth, fault.status, resource, verb);
      const headers: Record<string, string> = fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {};
      const reason = fault.reason ?? defaultReason(fault.status);
      this.sendStatus(res, fault.status, reason, fault.message ?? reason, fault.retryAfter !== undefined ? { retryAfterSeconds: fault.retryAfter } : {}, headers);
      return;
    }
    if (this.forbidden.has(`${resource}:${verb}`)) {
      this.record(req, url, auth, 403, resource, verb);
      const scope = namespace ? `in the namespace "${namespace}"` : 'at the cluster scope';
      const subject = name ? `${resource} "${name}"` : resource;
      const user = this.o.user ?? 'system:serviceaccount:default:podmeta';
      this.sendStatus(res, 403, 'Forbidden', `${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "" ${scope}`, {
        ...(name ? { name } : {}),
        kind: resource,
      });
      return;
    }
    const selected = fieldSelectorName(url.searchParams.get('fieldSelector'));
    if (verb === 'get') {
      const obj = this.store(resource).get(key(namespace, name!));
      this.record(req, url, auth, obj ? 200 : 404, resource, verb);
      if (obj) this.sendJson(res, obj);
      else this.sendStatus(res, 404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });
      return;
    }
    if (verb === 'list') {
      this.record(req, url, auth, 200, resource, verb);
      const items = [...this.store(resource).values()].filter(
        (o) => (namespace === undefined || o.metadata.namespace === namespace) && (selected === undefined || o.metadata.name === selected),
      );
      this.sendJson(res, {
        kind: resource === 'pods' ? 'PodList' : 'NodeList',
        apiVersion: 'v1',
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
      return;
    }
    this.watch(req, res, url, auth, resource, namespace, selected);
  }

  /** The API server's validation of watch-list parameters (apiserver ValidateListOptions); a message, or undefined. */
  private watchListProblem(q: URLSearchParams): string | undefined {
    const initial = q.get('sendInitialEvents');
    const match = q.get('resourceVersionMatch');
    if (initial === null) return match !== null ? 'resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided' : undefined;
    if (this.o.watchList === false) return 'sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled';
    if (match !== 'NotOlderThan') return "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan";
    if (!isTrue(q.get('allowWatchBookmarks'))) return 'allowWatchBookmarks: Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true';
    return undefined;
  }

  private watch(req: IncomingMessage, res: ServerResponse, url: URL, auth: RequestRecord['auth'], resource: Resource, namespace: string | undefined, name: string | undefined): void {
    const invalid = this.watchListProblem(url.searchParams);
    if (invalid) {
      this.record(req, url, auth, 422, resource, 'watch');
      this.sendStatus(res, 422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: ${invalid}`, { kind: 'ListOptions', group: 'meta.k8s.io' });
      return;
    }
    const initialEvents = isTrue(url.searchParams.get('sendInitialEvents'));
    this.record(req, url, auth, 200, resource, 'watch');
    res.writeHead(200, { 'Content-Type': 'application/json', ...chunked(req) });
    res.flushHeaders();
    const w: Watcher = { resource, namespace, name, bookmarks: isTrue(url.searchParams.get('allowWatchBookmarks')), res, queue: Promise.resolve(), timers: [], closed: false };
    const rvParam = url.searchParams.get('resourceVersion') ?? '';
    this.watchers.add(w);
    res.once('close', () => this.closeWatcher(w));
    if (rvParam !== '' && rvParam !== '0' && Number(rvParam) < this.compactedRv) {
      this.write(w, {
        type: 'ERROR',
        object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${rvParam} (${this.compactedRv})`, reason: 'Expired', code: 410 },
      });
      this.closeWatcher(w);
      void w.queue.then(() => res.end());
      return;
    }
    if (rvParam === '' || rvParam === '0' || initialEvents) {
      // "Get State and Start at Most Recent" (and, with sendInitialEvents, the state at least as new as the RV)
      for (const o of this.store(resource).values()) {
        if (matches(w, { resource, namespace: o.metadata.namespace, name: o.metadata.name })) this.write(w, { type: 'ADDED', object: o });
      }
      if (initialEvents) {
        const kind = resource === 'pods' ? 'Pod' : 'Node';
        this.write(w, { type: 'BOOKMARK', object: { kind, apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), annotations: { 'k8s.io/initial-events-end': 'true' } } } });
      }
    } else {
      const from = Number(rvParam);
      for (const ev of this.history) if (ev.rv > from && matches(w, ev)) this.write(w, { type: ev.type, object: ev.object });
    }
    const timeoutS = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeoutS > 0) {
      w.timers.push(
        setTimeout(() => {
          this.closeWatcher(w);
          void w.queue.then(() => res.end());
        }, timeoutS * 1000 * (this.o.timeScale ?? 1)),
      );
    }
  }

  private closeWatcher(w: Watcher): void {
    w.closed = true;
    for (const t of w.timers) clearTimeout(t);
    this.watchers.delete(w);
  }

  private write(w: Watcher, event: unknown): void {
    const line = Buffer.from(JSON.stringify(event) + '\n', 'utf8');
    const offsets = this.o.splitWatchLines?.(line) ?? [];
    w.queue = w.queue.then(async () => {
      if (w.closed && !w.res.writable) return;
      if (offsets.length === 0) {
        w.res.write(line);
        return;
      }
      let at = 0;
      for (const off of [...offsets, line.length]) {
        if (off <= at || off > line.length) continue;
        if (!w.res.writable) return;
        w.res.write(line.subarray(at, off));
        at = off;
        await sleep(1);
      }
    });
  }

  private takeFault(resource: Resource, verb: Verb): FaultAction | undefined {
    const i = this.faults.findIndex((f) => (f.match.resource ?? resource) === resource && (f.match.verb ?? verb) === verb);
    if (i === -1) return undefined;
    const f = this.faults[i]!;
    if (--f.times <= 0) this.faults.splice(i, 1);
    return f.action;
  }

  private discovery(path: string): unknown {
    const p = path.replace(/\/+$/, '') || '/';
    if (p === '/version') return { major: '1', minor: '32', gitVersion: 'v1.32.0-fake', platform: 'linux/amd64' };
    if (p === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: this.url.host }] };
    if (p === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
    if (p === '/api/v1') {
      const r = (name: string, kind: string, namespaced: boolean, verbs: string[]): unknown => ({ name, singularName: '', namespaced, kind, verbs });
      return {
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [
          r('pods', 'Pod', true, ['get', 'list', 'watch']),
          r('nodes', 'Node', false, ['get', 'list', 'watch']),
          r('namespaces', 'Namespace', false, ['get', 'list', 'watch']),
        ],
      };
    }
    return undefined;
  }

  /** Poll until `pred` holds (default 5 s); rejects with `what` on timeout. */
  async waitFor(pred: () => boolean, what = 'condition', timeoutMs = 5000): Promise<void> {
    await waitFor(pred, what, timeoutMs);
  }

  /** Requests of one resource/verb (handy for assertions). */
  requestsOf(resource: Resource, verb?: Verb): RequestRecord[] {
    return this.requests.filter((r) => r.resource === resource && (verb === undefined || r.verb === verb));
  }

  // ---- wire log and certificate rotation (test-only additions for the proxy and CA-rotation tests) ----------

  /** every request the HTTP parser produced, in arrival order, with the number of its TLS connection */
  readonly wire: WireRecord[] = [];
  /** requests the HTTP parser rejected (bytes that were not a valid request) */
  parseErrors = 0;
  /** TLS connections that completed a handshake */
  tlsConnections = 0;
  /** TLS handshakes that failed (e.g. the client did not trust the certificate) */
  tlsFailures = 0;
  /** HTTP/2 sessions opened (each on its own TLS connection) */
  h2Sessions = 0;
  private closedBytes = 0;
  private readonly secured = new Set<TLSSocket>();

  /** application bytes received on all TLS connections after their handshake (0 = not even a request line or an h2 preface) */
  get bytesIn(): number {
    let n = this.closedBytes;
    for (const s of this.secured) n += s.bytesRead;
    return n;
  }

  /** TLS connections open now (handshake done) */
  get openTlsConnections(): number {
    return this.secured.size;
  }

  /** open h2 sessions */
  get h2SessionCount(): number {
    return this.sessions.size;
  }

  private instrumentWire(): void {
    // (bytesRead of a TLS socket counts the decrypted bytes it delivered, whether the h1 parser or an h2 session reads it)
    this.server.on('secureConnection', (s: TLSSocket) => {
      (s as unknown as Record<symbol, number>)[CONN] = ++this.tlsConnections;
      this.secured.add(s);
      s.once('close', () => {
        this.secured.delete(s);
        this.closedBytes += s.bytesRead;
      });
    });
    this.server.on('tlsClientError', () => void this.tlsFailures++);
    this.server.on('clientError', (_err: Error, s: Socket) => {
      this.parseErrors++;
      s.destroy();
    });
    this.server.on('request', (req: IncomingMessage | Http2ServerRequest) => {
      const header = req.headers.authorization;
      // on h2 req.socket is the session's socket proxy: a property read reaches the TLS socket
      const conn = (req.socket as unknown as Record<symbol, number | undefined>)[CONN] ?? 0;
      this.wire.push({ conn, httpVersion: req.httpVersion, method: req.method ?? '', url: req.url ?? '', token: header?.startsWith('Bearer ') ? header.slice(7) : undefined });
    });
  }

  /** Serve a different certificate from now on (new handshakes); with `dropConnections` every open socket is cut. */
  rotateCertificate(pki: Pick<TestPki, 'certPem' | 'keyPem' | 'caPem'>, dropConnections = true): void {
    this.server.setSecureContext({ cert: pki.certPem, key: pki.keyPem });
    this.caPem = pki.caPem;
    if (dropConnections) for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    clearInterval(this.periodic);
    for (const w of [...this.watchers]) this.closeWatcher(w);
    for (const session of this.sessions) session.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** `eventually` (test/support/wait.ts) for a boolean condition on the fake server's state, polled every 5 ms. */
export async function waitFor(pred: () => boolean, what = 'condition', timeoutMs = 5000): Promise<void> {
  await eventually(pred, timeoutMs, what, 5);
}

const CONN = Symbol('podmeta.fake.conn');

/** Connection-specific headers: HTTP/2 forbids them (RFC 9113 §8.2.2); Go's h2 server drops a handler's. */
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** `Transfer-Encoding: chunked` where it exists (HTTP/1.1), nothing on h2 (DATA frames are the framing). */
function chunked(req: IncomingMessage): Record<string, string> {
  return req.httpVersionMajor === 2 ? {} : { 'Transfer-Encoding': 'chunked' };
}

/**
 * The h2 compat request/response made to look like HTTP/1.1's to the routes and hooks: `Host` from
 * `:authority` (Go's r.Host), connection headers a handler sets dropped. HTTP/1.1 objects pass unchanged.
 */
function asHttp1(rq: IncomingMessage | Http2ServerRequest, rs: ServerResponse | Http2ServerResponse): { req: IncomingMessage; res: ServerResponse } {
  if (rq.httpVersionMajor !== 2) return { req: rq as IncomingMessage, res: rs as ServerResponse };
  const h2req = rq as Http2ServerRequest;
  const h2res = rs as Http2ServerResponse;
  if (h2req.headers.host === undefined && h2req.authority) h2req.headers.host = h2req.authority;
  const clean = (headers: unknown): unknown => {
    if (!headers || typeof headers !== 'object' || Array.isArray(headers)) return headers;
    return Object.fromEntries(Object.entries(headers).filter(([k]) => !H2_FORBIDDEN.has(k.toLowerCase())));
  };
  const writeHead = h2res.writeHead.bind(h2res) as (...a: unknown[]) => Http2ServerResponse;
  const setHeader = h2res.setHeader.bind(h2res);
  Object.assign(h2res, {
    writeHead: (status: number, ...rest: unknown[]) => writeHead(status, ...rest.filter((r) => typeof r !== 'string').map(clean)),
    setHeader: (name: string, value: number | string | readonly string[]) => (H2_FORBIDDEN.has(name.toLowerCase()) ? h2res : setHeader(name, value)),
  });
  return { req: h2req as unknown as IncomingMessage, res: h2res as unknown as ServerResponse };
}

function key(namespace: string | undefined, name: string): string {
  return namespace === undefined ? name : `${namespace}/${name}`;
}

function isTrue(v: string | null): boolean {
  return v === '1' || v === 'true';
}

function defaultReason(code: number): string {
  return (
    ({ 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 410: 'Expired', 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout' } as Record<number, string>)[
      code
    ] ?? 'Unknown'
  );
}

function fieldSelectorName(sel: string | null): string | undefined {
  if (!sel) return undefined;
  for (const term of sel.split(',')) {
    const m = /^metadata\.name==?(.*)$/.exec(term.trim());
    if (m) return m[1];
  }
  return undefined;
}

function matches(w: Pick<Watcher, 'resource' | 'namespace' | 'name'>, ev: { resource: Resource; namespace: string | undefined; name: string }): boolean {
  return ev.resource === w.resource && (w.namespace === undefined || ev.namespace === w.namespace) && (w.name === undefined || ev.name === w.name);
}

/** /api/v1/namespaces/NS/pods[/NAME], /api/v1/pods, /api/v1/nodes[/NAME] */
function parsePath(url: URL): { resource: Resource; namespace: string | undefined; name: string | undefined } | undefined {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts[0] !== 'api' || parts[1] !== 'v1') return undefined;
  const rest = parts.slice(2);
  if (rest[0] === 'namespaces' && rest.length >= 3 && rest[2] === 'pods' && rest.length <= 4) return { resource: 'pods', namespace: rest[1], name: rest[3] };
  if ((rest[0] === 'pods' || rest[0] === 'nodes') && rest.length <= 2) return { resource: rest[0], namespace: undefined, name: rest[1] };
  return undefined;
}

// ---- realistic objects ---------------------------------------------------------------------------

export interface SamplePodOptions {
  name?: string;
  namespace?: string;
  nodeName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  serviceAccount?: string;
  /** the labels the API server copies from the Node at binding (Kubernetes ≥ 1.35, KEP-4742) */
  topology?: { zone?: string; region?: string };
  /** add init containers: a plain one ("migrate", done) and a native sidecar ("log-shipper", restartPolicy Always) */
  initContainers?: boolean;
}

/** A Deployment-owned pod as the API server returns it (trimmed managedFields). */
export function samplePod(o: SamplePodOptions = {}): Kube {
  const name = o.name ?? 'web-5d9c7b8f4-x7k2p';
  const namespace = o.namespace ?? 'default';
  const labels = { ...(o.labels ?? { app: 'web', 'pod-template-hash': '5d9c7b8f4', 'app.kubernetes.io/name': 'web' }) };
  if (o.topology?.zone) labels['topology.kubernetes.io/zone'] = o.topology.zone;
  if (o.topology?.region) labels['topology.kubernetes.io/region'] = o.topology.region;
  const pod: Kube = {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      name,
      generateName: 'web-5d9c7b8f4-',
      namespace,
      uid: '1d591f87-4c1d-4a4e-9c2f-2b7d0a4e8f31',
      creationTimestamp: '2026-11-22T10:15:00Z',
      labels,
      annotations: o.annotations ?? { 'kubernetes.io/config.seen': '2026-11-22T10:15:00.000000000Z', 'kubernetes.io/config.source': 'api' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d9c7b8f4', uid: '8a2b1c3d-0000-4000-8000-000000000001', controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      containers: [
        {
          name: 'main',
          image: 'registry.k8s.io/nginx:1.27',
          ports: [{ containerPort: 80, protocol: 'TCP' }],
          resources: { requests: { cpu: '15m', memory: '100Ki' }, limits: { cpu: '100m', memory: '4Mi' } },
          terminationMessagePath: '/dev/termination-log',
          imagePullPolicy: 'IfNotPresent',
        },
        {
          name: 'podmeta',
          image: 'ghcr.io/example/podmeta:0.1.0',
          resources: { requests: { cpu: '5m', memory: '16Mi' } },
        },
      ],
      restartPolicy: 'Always',
      serviceAccountName: o.serviceAccount ?? 'podmeta',
      serviceAccount: o.serviceAccount ?? 'podmeta',
      nodeName: o.nodeName ?? 'k8s-node1',
      schedulerName: 'default-scheduler',
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-22T10:15:05Z' }],
      hostIP: '10.10.10.149',
      hostIPs: [{ ip: '10.10.10.149' }, { ip: 'fd00::149' }],
      podIP: '10.244.1.38',
      podIPs: [{ ip: '10.244.1.38' }, { ip: 'fd00:10:244:1::26' }],
      startTime: '2026-11-22T10:15:00Z',
      qosClass: 'Burstable',
      containerStatuses: [
        {
          name: 'main',
          state: { running: { startedAt: '2026-11-22T10:15:03Z' } },
          ready: true,
          restartCount: 0,
          image: 'registry.k8s.io/nginx:1.27',
          imageID: 'registry.k8s.io/nginx@sha256:6e2bd2a3a1ad4c0e8a5c2f0e4f8e4b1f7b5d4f5d9e3a7c1b2d3e4f5a6b7c8d9e',
          containerID: 'containerd://0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0',
          started: true,
          // what kubelet reports since in-place resize (1.33+): the values the container runs with
          allocatedResources: { cpu: '15m', memory: '100Ki' },
          resources: { requests: { cpu: '15m', memory: '100Ki' }, limits: { cpu: '100m', memory: '4Mi' } },
        },
        {
          name: 'podmeta',
          state: { running: { startedAt: '2026-11-22T10:15:04Z' } },
          ready: true,
          restartCount: 1,
          image: 'ghcr.io/example/podmeta:0.1.0',
          imageID: 'ghcr.io/example/podmeta@sha256:1111111111111111111111111111111111111111111111111111111111111111',
          started: true,
        },
      ],
    },
  };
  if (o.initContainers) addInitContainers(pod);
  return pod;
}

/** A plain init container that ran to completion, and a native sidecar (restartPolicy Always), with their statuses. */
function addInitContainers(pod: Kube): void {
  const spec = pod.spec as { initContainers?: unknown[] };
  const status = pod.status as { initContainerStatuses?: unknown[] };
  spec.initContainers = [
    { name: 'migrate', image: 'registry.example/migrate:3', resources: { requests: { cpu: '100m' } } },
    { name: 'log-shipper', image: 'registry.example/fluent-bit:4.0', restartPolicy: 'Always', resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } } },
  ];
  status.initContainerStatuses = [
    { name: 'migrate', ready: true, restartCount: 0, image: 'registry.example/migrate:3', imageID: 'registry.example/migrate@sha256:' + '2'.repeat(64), started: false, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
    {
      name: 'log-shipper',
      ready: true,
      restartCount: 2,
      image: 'registry.example/fluent-bit:4.0',
      imageID: 'registry.example/fluent-bit@sha256:' + '3'.repeat(64),
      started: true,
      state: { running: { startedAt: '2026-11-22T10:15:02Z' } },
      allocatedResources: { cpu: '10m', memory: '32Mi' },
      resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
    },
  ];
}

/** A worker node with the well-known topology labels. */
export function sampleNode(name = 'k8s-node1', labels?: Record<string, string>): Kube {
  return {
    kind: 'Node',
    apiVersion: 'v1',
    metadata: {
      name,
      uid: '5b1e7c7e-2f2a-4c1b-9d7e-000000000042',
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels: labels ?? {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node.kubernetes.io/instance-type': 'm5.large',
        'topology.kubernetes.io/region': 'eu-west-1',
        'topology.kubernetes.io/zone': 'eu-west-1a',
        'example.com/rack': 'r12',
      },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { podCIDR: '10.244.1.0/24', providerID: 'aws:///eu-west-1a/i-0123456789abcdef0' },
    status: {
      addresses: [
        { type: 'InternalIP', address: '10.10.10.149' },
        { type: 'Hostname', address: name },
      ],
      nodeInfo: { kubeletVersion: 'v1.32.0', architecture: 'amd64', operatingSystem: 'linux' },
    },
  };
}
