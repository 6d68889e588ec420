// The standard process_* and nodejs_* metrics (prom-client's default names, help texts and labels), each
// computed when /metrics is scraped: no interval, no sampler, so an idle agent stays asleep.
// Left out on purpose: prom-client's nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds, which
// need monitorEventLoopDelay()'s 10 ms timer (≈ 100 wake-ups a second, 0.5–0.7 % of a core per idle pod);
// nodejs_eventloop_lag_seconds (measured at scrape time, as prom-client does) stays.
// nodejs_gc_duration_seconds counts collections from the first scrape on (its observer starts then, so an
// agent nobody scrapes never loads the performance-timeline machinery).

import { readdirSync, readFileSync } from 'node:fs';
import { Collected, Gauge, Histogram, type Registry, type Sample } from './registry.js';
import { BUILD } from '../build-info.js';

const one = (value: number): Sample[] => [{ labels: {}, value }];

/** VmRSS, VmSize, VmData from /proc/self/status in bytes (undefined off Linux). */
function procStatus(): Record<string, number> | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(VmRSS|VmSize|VmData):\s+(\d+)\s*kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * 1024;
  }
  return out;
}

function maxFds(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const n = Number(line?.split(/ {2,}/)[1]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // not the descriptor readdirSync itself used
  } catch {
    return undefined;
  }
}

function grouped(items: readonly string[]): Sample[] {
  const counts = new Map<string, number>();
  for (const t of items) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].map(([type, value]) => ({ labels: { type }, value }));
}

type Internals = { _getActiveHandles?: () => object[]; _getActiveRequests?: () => object[] };
const ctorName = (x: object): string => (x.constructor as { name?: string } | undefined)?.name ?? 'Unknown';

// perf_hooks.constants.NODE_PERFORMANCE_GC_{MINOR,MAJOR,INCREMENTAL,WEAKCB}
const GC_KINDS: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weakcb' };

export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => readonly Sample[]): void => void new Collected({ name, help, type: 'gauge', registers, read });
  const counter = (name: string, help: string, read: () => readonly Sample[]): void => void new Collected({ name, help, type: 'counter', registers, read });

  counter('process_cpu_user_seconds_total', 'Total user CPU time spent in seconds.', () => one(process.cpuUsage().user / 1e6));
  counter('process_cpu_system_seconds_total', 'Total system CPU time spent in seconds.', () => one(process.cpuUsage().system / 1e6));
  counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', () => {
    const u = process.cpuUsage();
    return one((u.user + u.system) / 1e6);
  });
  const start = Math.round(Date.now() / 1000 - process.uptime());
  gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', () => one(start));
  gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => one(procStatus()?.VmRSS ?? process.memoryUsage.rss()));
  const status = procStatus();
  if (status?.VmSize !== undefined) gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', () => one(procStatus()?.VmSize ?? NaN));
  if (status?.VmData !== undefined) gauge('process_heap_bytes', 'Process heap size in bytes.', () => one(procStatus()?.VmData ?? NaN));
  if (openFds() !== undefined) gauge('process_open_fds', 'Number of open file descriptors.', () => one(openFds() ?? NaN));
  const max = maxFds();
  if (max !== undefined) gauge('process_max_fds', 'Maximum number of open file descriptors.', () => one(max));

  let lagSeconds = 0;
  registry.onScrape(async () => {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => setImmediate(resolve));
    lagSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  });
  gauge('nodejs_eventloop_lag_seconds', 'Lag of event loop in seconds.', () => one(lagSeconds));

  gauge(
    'nodejs_active_resources',
    'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    () => grouped(process.getActiveResourcesInfo()),
  );
  gauge('nodejs_active_resources_total', 'Total number of active resources.', () => one(process.getActiveResourcesInfo().length));
  const internals = process as unknown as Internals;
  if (typeof internals._getActiveHandles === 'function') {
    const handles = (): object[] => internals._getActiveHandles?.() ?? [];
    gauge('nodejs_active_handles', 'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.', () => grouped(handles().map(ctorName)));
    gauge('nodejs_active_handles_total', 'Total number of active handles.', () => one(handles().length));
  }
  if (typeof internals._getActiveRequests === 'function') {
    const requests = (): object[] => internals._getActiveRequests?.() ?? [];
    gauge('nodejs_active_requests', 'Number of active libuv requests grouped by request type. Every request type is C++ class name.', () => grouped(requests().map(ctorName)));
    gauge('nodejs_active_requests_total', 'Total number of active requests.', () => one(requests().length));
  }

  gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', () => one(process.memoryUsage().heapTotal));
  gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', () => one(process.memoryUsage().heapUsed));
  gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', () => one(process.memoryUsage().external));
  // node:v8 is loaded at the first scrape, not at start-up
  const spaces = (field: 'space_size' | 'space_used_size' | 'space_available_size') => (): Sample[] =>
    process
      .getBuiltinModule('node:v8')
      .getHeapSpaceStatistics().map((s) => ({ labels: { space: s.space_name.replace(/_space$/, '') }, value: s[field] }));
  gauge('nodejs_heap_space_size_total_bytes', 'Process heap space size total from Node.js in bytes.', spaces('space_size'));
  gauge('nodejs_heap_space_size_used_bytes', 'Process heap space size used from Node.js in bytes.', spaces('space_used_size'));
  gauge('nodejs_heap_space_size_available_bytes', 'Process heap space size available from Node.js in bytes.', spaces('space_available_size'));
  const [major, minor, patch] = process.versions.node.split('.');
  gauge('nodejs_version_info', 'Node.js version info.', () => [{ labels: { version: process.version, major: major ?? '', minor: minor ?? '', patch: patch ?? '' }, value: 1 }]);

  const gc = new Histogram<'kind'>({
    name: 'nodejs_gc_duration_seconds',
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: [0.001, 0.01, 0.1, 1, 2, 5],
    registers,
  });
  let observing = false;
  registry.onScrape(() => {
    if (observing || typeof PerformanceObserver !== 'function') return Promise.resolve();
    observing = true;
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const kind = GC_KINDS[(e as { detail?: { kind?: number } | null }).detail?.kind ?? 0];
        if (kind) gc.observe({ kind }, e.duration / 1000);
      }
    });
    obs.observe({ entryTypes: ['gc'] });
    return Promise.resolve();
  });
}

/** What every podmeta process (the agent, the injector) exposes besides its own metrics: podmeta_build_info
 * (version, revision, Node) and, unless `processMetrics` is false (tests), the standard process metrics. */
export function registerStandardMetrics(registry: Registry, { help, processMetrics }: { help: string; processMetrics: boolean }): void {
  new Gauge({ name: 'podmeta_build_info', help, labelNames: ['version', 'revision', 'nodejs'] as const, registers: [registry] }).set(
    { version: BUILD.version, revision: BUILD.revision, nodejs: process.version },
    1,
  );
  if (processMetrics) registerProcessMetrics(registry);
}
