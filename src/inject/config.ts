// The webhook's configuration: a pure function of an injected env object, like src/config.ts (every problem
// reported at once, each prefixed with the variable — the agent's `listen` schema and `configError`; empty
// string = unset). The composition root (src/injector.ts) prints the message and exits 2.

import * as z from 'zod/mini';
import { absolute, configError, listen, type ListenAddress } from '../config.js';
import type { LogLevel } from '../log.js';
import { IMAGE_REF, defaultImage } from './version.js';

export interface InjectorConfig {
  listen: ListenAddress;
  tlsCert: string;
  tlsKey: string;
  image: string;
  logLevel: LogLevel;
  /** how often the certificate files are re-read (addition: PODMETA_INJECTOR_TLS_RELOAD_SECONDS) */
  reloadMs: number;
}

export const INJECTOR_DEFAULTS = {
  PODMETA_INJECTOR_LISTEN: '0.0.0.0:8443',
  PODMETA_INJECTOR_TLS_CERT: '/etc/podmeta-injector/tls/tls.crt',
  PODMETA_INJECTOR_TLS_KEY: '/etc/podmeta-injector/tls/tls.key',
  PODMETA_INJECTOR_TLS_RELOAD_SECONDS: '10',
  PODMETA_LOG_LEVEL: 'info',
} as const;

const schema = z.object({
  PODMETA_INJECTOR_LISTEN: listen,
  PODMETA_INJECTOR_TLS_CERT: absolute,
  PODMETA_INJECTOR_TLS_KEY: absolute,
  PODMETA_INJECTOR_IMAGE: z.string().check(z.regex(IMAGE_REF, 'expected an image reference such as registry.example.com/podmeta:0.2.0')),
  PODMETA_INJECTOR_TLS_RELOAD_SECONDS: z.pipe(
    z.string().check(z.regex(/^\d+(\.\d+)?$/, 'expected a number of seconds')),
    z.pipe(z.transform((v: string) => Number(v)), z.number().check(z.gte(0.01, 'expected at least 0.01'), z.lte(3600, 'expected at most 3600'))),
  ),
  PODMETA_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error'], 'expected one of debug, info, warn, error'),
});

/** Pure: env in, InjectorConfig out. Throws ConfigError naming every bad variable. */
export function parseInjectorConfig(env: Readonly<Record<string, string | undefined>>): InjectorConfig {
  const defaults: Record<string, string> = { ...INJECTOR_DEFAULTS, PODMETA_INJECTOR_IMAGE: defaultImage() };
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const raw = env[key]?.trim();
    input[key] = raw ? raw : defaults[key]!;
  }
  const r = schema.safeParse(input);
  if (!r.success) throw configError(r.error.issues, env);
  const e = r.data;
  return {
    listen: e.PODMETA_INJECTOR_LISTEN,
    tlsCert: e.PODMETA_INJECTOR_TLS_CERT,
    tlsKey: e.PODMETA_INJECTOR_TLS_KEY,
    image: e.PODMETA_INJECTOR_IMAGE,
    logLevel: e.PODMETA_LOG_LEVEL,
    reloadMs: Math.round(e.PODMETA_INJECTOR_TLS_RELOAD_SECONDS * 1000),
  };
}
