// The webhook's Prometheus metrics (podmeta_injector_*), beside the standard process metrics, in its own registry
// (the agent's scrape-time writer, src/metrics/registry.ts).
import { Counter, Gauge, Registry } from '../metrics/registry.js';
import { registerStandardMetrics } from '../metrics/process.js';

export class InjectorMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'podmeta_injector_requests_total',
    help: 'HTTP requests to the webhook by path and status code',
    labelNames: ['path', 'code'] as const,
    registers: [this.registry],
  });
  readonly injections = new Counter({ name: 'podmeta_injector_injections_total', help: 'Pods podmeta was injected into', registers: [this.registry] });
  readonly repairs = new Counter({
    name: 'podmeta_injector_repairs_total',
    help: 'Injected pods whose podmeta init container had lost restartPolicy: Always (reinvocation)',
    registers: [this.registry],
  });
  readonly skips = new Counter({ name: 'podmeta_injector_skips_total', help: 'Pods left as they were, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly refusals = new Counter({
    name: 'podmeta_injector_refusals_total',
    help: 'Pods refused for an invalid podmeta.io/* annotation',
    labelNames: ['annotation'] as const,
    registers: [this.registry],
  });
  readonly errors = new Counter({ name: 'podmeta_injector_errors_total', help: 'Internal errors (the pod was admitted unchanged: fail open)', registers: [this.registry] });
  readonly certReloads = new Counter({
    name: 'podmeta_injector_certificate_loads_total',
    help: 'Certificate loads by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly certExpiry = new Gauge({
    name: 'podmeta_injector_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate in use',
    registers: [this.registry],
  });

  constructor({ defaultMetrics = true }: { defaultMetrics?: boolean } = {}) {
    registerStandardMetrics(this.registry, { help: 'Build metadata', processMetrics: defaultMetrics });
  }
}
