// Builds and runs one agent: sources → store → HTTP views. main.ts owns the process (env, signals, exit
// codes); tests start agents in-process through this module.

import type { Server } from 'node:http';
import type { Config, ListenAddress } from './config.js';
import type { SourceName, SourcePart } from './document.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { Store } from './store.js';
import { envStatus, partFromEnv } from './sources/env.js';
import { StatusReporter } from './status.js';
import { DownwardSource } from './sources/downward.js';
import { createApiSource, type ApiSource } from './apiserver/index.js';
import { createMetadataApp, createProbeApp } from './http/app.js';
import { makeServer, warnExposure } from './http/server.js';
import { CONNECTION_DEFAULTS } from './http/connections.js';
import type { StreamRegistry } from './http/streams.js';
import { createProxyServer, type ProxyServer } from './proxy/index.js';

export interface AgentOptions {
  config: Config;
  /** the process environment (only the downward names are read from it) */
  env: Readonly<Record<string, string | undefined>>;
  log: Logger;
  /** test knobs */
  keepAliveMs?: number;
  retryMs?: number;
  apiTiming?: Parameters<typeof createApiSource>[0]['timing'];
  defaultMetrics?: boolean;
  shutdownGraceMs?: number;
  /** wait this long after turning unready before closing (lets /readyz be observed) */
  drainDelayMs?: number;
}

export interface Addresses {
  metadata: string;
  probe: string;
  proxy?: string;
}

function hostPort(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** A listener that could not be opened; names the variable that configures it. */
export class ListenError extends Error {
  override name = 'ListenError';
  constructor(
    readonly variable: string,
    address: ListenAddress,
    cause: Error & { code?: string },
  ) {
    super(`${variable}=${JSON.stringify(hostPort(address))}: cannot listen: ${cause.code === 'EADDRINUSE' ? 'the address is already in use' : cause.code === 'ENOTFOUND' || cause.code === 'EAI_AGAIN' ? `the host ${JSON.stringify(address.host)} does not resolve` : cause.code === 'EADDRNOTAVAIL' ? 'the address is not one of this pod\'s addresses' : cause.message}`, { cause });
  }
}

/** Every listener the agent opens, by name, with the variable that configures it (named in a ListenError). */
const LISTEN_VARIABLE = { metadata: 'PODMETA_LISTEN', probe: 'PODMETA_PROBE_LISTEN', proxy: 'PODMETA_PROXY_LISTEN' } as const;
type ListenerName = keyof typeof LISTEN_VARIABLE;

function listen(name: ListenerName, server: Server, a: ListenAddress): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: Error) => reject(new ListenError(LISTEN_VARIABLE[name], a, err)));
    server.listen(a.port, a.host, () => {
      server.removeAllListeners('error');
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? hostPort({ host: addr.address, port: addr.port }) : String(addr));
    });
  });
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    const t = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(t);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export class Agent {
  readonly store: Store;
  readonly metrics: Metrics;
  private readonly log: Logger;
  private readonly downward: DownwardSource;
  private api: ApiSource | undefined;
  /** the listeners, by name; the probe listener closes last on shutdown */
  private readonly servers: Partial<Record<ListenerName, Server>> = {};
  private streams: StreamRegistry | undefined;
  private proxy: ProxyServer | undefined;
  private draining = false;

  constructor(private readonly o: AgentOptions) {
    const { config, log } = o;
    this.log = log;
    this.store = new Store({ annotationsExclude: config.annotationsExclude, nodeLabels: config.nodeLabels });
    // the store owns every source's status: sources write it through their StatusReporter, /status and the
    // podmeta_source_state gauge read it
    this.metrics = new Metrics({ defaultMetrics: o.defaultMetrics ?? true, sources: () => this.store.reportedStatuses });
    this.store.subscribe((c) => this.metrics.documentChanged(c.revision)); // first subscriber: times the fan-out
    this.store.onStatus((source, st) => this.metrics.sourceChanged(source, st));
    this.downward = new DownwardSource({
      dir: config.downwardDir,
      log: log.child({ source: 'downward' }),
      debounceMs: config.debounceMs,
      resyncMs: config.resyncSeconds * 1000,
      maxFileBytes: config.maxFileBytes,
      onPart: (part) => this.store.setPart('downward', part),
      statuses: this.store,
      onRead: () => this.metrics.volumeReads.inc(),
    });
  }

  /** Read the local sources once, start the API source, then listen. */
  async start(): Promise<Addresses> {
    const { config, env, log } = this.o;
    // env: a snapshot at container start; it never changes afterwards
    const { part: envPart, problems } = partFromEnv(env);
    const st = envStatus(problems);
    new StatusReporter('env', this.store, log).set(st.state, st.error);
    // the first env and volume readings make one revision (revision 1); later volume changes arrive via onPart
    const volumePart = await this.downward.start();
    this.store.setParts({ env: envPart, downward: volumePart });

    // The API source needs to know which Pod and Node are its own: the env and volume parts say (env wins,
    // as in the merged document); it never reads the store.
    const identity = { ...volumePart?.pod, ...envPart.pod };
    const nodeName = envPart.node?.name ?? volumePart?.node?.name;
    this.api = createApiSource({
      mode: config.api,
      saDir: config.saDir,
      ...(config.serviceHost !== undefined ? { serviceHost: config.serviceHost } : {}),
      ...(config.servicePort !== undefined ? { servicePort: config.servicePort } : {}),
      ...(identity.name !== undefined ? { podName: identity.name } : {}),
      ...(identity.namespace !== undefined ? { namespace: identity.namespace } : {}),
      ...(nodeName !== undefined ? { nodeName } : {}),
      nodeLabels: config.nodeLabels,
      nodeLabelsDefault: config.nodeLabelsDefault,
      ...(config.container ? { container: config.container } : {}),
      ...(identity.labels ? { podLabels: identity.labels } : {}),
      log: log.child({ source: 'api' }),
      onPart: (source: SourceName, part: SourcePart | undefined) => this.store.setPart(source, part),
      statuses: this.store,
      metrics: {
        request: (resource, verb, code) => this.metrics.apiRequests.inc({ resource, verb, code: String(code) }),
        watchRestart: (resource) => this.metrics.apiWatchRestarts.inc({ resource }),
        relist: (resource) => this.metrics.apiRelists.inc({ resource }),
        event: (resource, type) => this.metrics.apiEvents.inc({ resource, type }),
      },
      ...(this.o.apiTiming ? { timing: this.o.apiTiming } : {}),
    });
    await this.api.start();

    const deps = {
      store: this.store,
      metrics: this.metrics,
      log,
      requireHeader: config.requireHeader,
      allowedHosts: config.allowedHosts,
      maxStreams: config.maxStreams,
      ...(this.o.keepAliveMs !== undefined ? { keepAliveMs: this.o.keepAliveMs } : {}),
      ...(this.o.retryMs !== undefined ? { retryMs: this.o.retryMs } : {}),
      // readiness: each local source has been read once, i.e. has reported its status (missing counts)
      checks: () => ({ env: this.store.statusOf('env') !== undefined, downward: this.store.statusOf('downward') !== undefined }),
      draining: () => this.draining,
    };
    const { handler, streams } = createMetadataApp(deps);
    this.streams = streams;
    const limits = { maxInFlight: config.maxPipeline };
    // an open event stream or long-poll is a request whose answer is never done: the listener's held-requests
    // budget is on top of the ones PODMETA_MAX_STREAMS allows (else it, not that knob, would cap them at 4 096)
    const maxHeld = CONNECTION_DEFAULTS.maxHeld + config.maxStreams;
    const addresses: Addresses = {
      metadata: await this.open('metadata', makeServer(handler, { ...limits, maxHeld, maxConnections: config.maxConnections }), config.listen),
      probe: await this.open('probe', makeServer(createProbeApp(deps).callback(), { ...limits, maxConnections: config.probeMaxConnections }), config.probeListen),
    };
    if (config.proxy) {
      const proxy = createProxyServer({ config: config.proxy, transport: this.api.transport, log: log.child({ component: 'proxy' }), metrics: this.metrics });
      this.proxy = proxy;
      addresses.proxy = await this.open('proxy', proxy, config.proxy.listen);
    }
    warnExposure(log, config);
    log.info('podmeta listening', { ...addresses, revision: this.store.current.revision });
    return addresses;
  }

  /** Listen with a named listener: shutdown() closes it, a ListenError names its variable. */
  private open(name: ListenerName, server: Server, address: ListenAddress): Promise<string> {
    this.servers[name] = server;
    return listen(name, server, address);
  }

  /** Unready, end streams, finish in-flight requests, stop sources; the probe listener closes last so
   * /readyz answers 503 meanwhile. */
  async shutdown(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    if (this.o.drainDelayMs) await new Promise((r) => setTimeout(r, this.o.drainDelayMs));
    this.streams?.closeAll();
    const grace = this.o.shutdownGraceMs ?? 3000;
    const { probe, proxy: _drainsItself, ...others } = this.servers;
    // the proxy drains itself (watches end at a line boundary, in-flight requests finish within the grace),
    // then the API source stops: its transport carries the proxied requests
    const proxyDrained = this.proxy?.drain(grace) ?? Promise.resolve();
    await Promise.all([...Object.values(others).map((s) => closeServer(s, grace)), this.downward.stop(), proxyDrained.then(() => this.api?.stop())]);
    if (probe) await closeServer(probe, grace);
  }
}
