// The webhook's configuration: a pure function of an injected env object, like src/config.ts (every problem
// reported at once, each prefixed with the variable; empty string = unset). The composition root
// (src/injector.ts) prints the message and exits 2.

import * as z from 'zod/mini';
import { ConfigError, parseListen, type ListenAddress } from '../config.js';
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

type Issues = { issues: { code: 'custom'; message: string; input: unknown }[] };

const listen = z.pipe(
  z.string(),
  z.transform((v: string, ctx) => {
    const r = parseListen(v);
    if (typeof r !== 'string') return r;
    (ctx as Issues).issues.push({ code: 'custom', message: r, input: v });
    return z.NEVER;
  }),
);
const absolute = z.string().check(z.startsWith('/', 'expected an absolute path'));

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
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const name = String(i.path[0] ?? '?');
      return `  ${name}=${JSON.stringify(env[name] ?? '')}: ${i.message}`;
    });
    throw new ConfigError(`invalid configuration (${lines.length} problem${lines.length === 1 ? '' : 's'}):\n${lines.join('\n')}`);
  }
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
