// The contract's per-pod settings: annotations on the pod (template), each mapped to the agent variable of the
// same meaning and checked by the agent's own configuration rules (src/config.ts), so a value the injector
// accepts is one the agent starts with. An invalid value is refused with a message naming the annotation.

import { parseConfig, parseListen } from '../config.js';

export const INJECT_LABEL = 'podmeta.io/inject';
export const STATUS_ANNOTATION = 'podmeta.io/status';
export const STATUS_INJECTED = 'injected';
export const CONTAINER_ANNOTATION = 'podmeta.io/container';
export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** annotation -> agent variable (contract, "Injection") */
export const SETTINGS = {
  'podmeta.io/api': 'PODMETA_API',
  'podmeta.io/node-labels': 'PODMETA_NODE_LABELS',
  'podmeta.io/proxy-listen': 'PODMETA_PROXY_LISTEN',
  'podmeta.io/log-level': 'PODMETA_LOG_LEVEL',
  [CONTAINER_ANNOTATION]: 'PODMETA_CONTAINER',
} as const;
export type SettingAnnotation = keyof typeof SETTINGS;

export interface Settings {
  /** agent variables to set on the podmeta container, in SETTINGS order */
  env: Array<{ name: string; value: string }>;
  /** the app container the downward resources (and PODMETA_CONTAINER) describe */
  container: string;
  warnings: string[];
}

export class AnnotationError extends Error {
  override name = 'AnnotationError';
  constructor(readonly annotation: string, message: string) {
    super(`annotation ${annotation}: ${message}`);
  }
}

// a label key: [DNS-subdomain prefix "/"] name (63 chars of [A-Za-z0-9_.-], alphanumeric at both ends)
const LABEL_NAME = /^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

function labelKeyProblem(key: string): string | undefined {
  const prefixOnly = key.endsWith('/') || key.endsWith('*');
  const body = key.endsWith('*') ? key.slice(0, -1) : key;
  const slash = body.indexOf('/');
  const prefix = slash >= 0 ? body.slice(0, slash) : '';
  const name = slash >= 0 ? body.slice(slash + 1) : body;
  if (slash >= 0 && !DNS_SUBDOMAIN.test(prefix)) return `${JSON.stringify(key)}: the prefix must be a DNS subdomain`;
  if (name.includes('/')) return `${JSON.stringify(key)}: at most one "/"`;
  if (name === '' ? !prefixOnly : !LABEL_NAME.test(name) && !(prefixOnly && /^[A-Za-z0-9_.-]*$/.test(name)))
    return `${JSON.stringify(key)} is not a label key (or a prefix ending in "/" or "*")`;
  return undefined;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

/** One setting checked as the agent would check its variable, plus what only the injector can know. */
function check(annotation: SettingAnnotation, value: string, containers: readonly string[]): string | undefined {
  const variable = SETTINGS[annotation];
  if (value.trim() === '' && annotation !== 'podmeta.io/node-labels') return 'must not be empty';
  if (annotation === CONTAINER_ANNOTATION)
    return containers.includes(value) ? undefined : `no container named ${JSON.stringify(value)} (containers: ${containers.join(', ')})`;
  if (annotation === 'podmeta.io/node-labels') {
    for (const key of value.split(',').map((s) => s.trim()).filter(Boolean)) {
      const p = labelKeyProblem(key);
      if (p) return p;
    }
  }
  if (annotation === 'podmeta.io/proxy-listen') {
    const a = parseListen(value.trim());
    if (typeof a !== 'string' && !LOOPBACK.test(a.host)) return `${JSON.stringify(value)}: the proxy must listen on loopback (127.0.0.1, [::1] or localhost)`;
  }
  try {
    parseConfig({ [variable]: value });
  } catch (err) {
    // "  PODMETA_API="x": expected one of auto, on, off" -> "expected one of auto, on, off"
    const line = (err as Error).message.split('\n').find((l) => l.includes(`${variable}=`)) ?? (err as Error).message;
    return line.replace(/^\s*[A-Z_]+=("(?:[^"\\]|\\.)*"): /, '$1: ');
  }
  return undefined;
}

/** Per-pod settings from the pod's annotations; throws AnnotationError for the first invalid one. */
export function readSettings(annotations: Readonly<Record<string, unknown>>, containers: readonly string[]): Settings {
  const warnings: string[] = [];
  const env: Settings['env'] = [];
  for (const [annotation, variable] of Object.entries(SETTINGS) as Array<[SettingAnnotation, string]>) {
    const raw = annotations[annotation];
    if (raw === undefined) continue;
    if (typeof raw !== 'string') throw new AnnotationError(annotation, 'must be a string');
    const problem = check(annotation, raw, containers);
    if (problem) throw new AnnotationError(annotation, problem);
    env.push({ name: variable, value: annotation === 'podmeta.io/node-labels' ? raw : raw.trim() });
  }
  let container = annotations[CONTAINER_ANNOTATION] as string | undefined;
  if (container === undefined) {
    const preferred = annotations[DEFAULT_CONTAINER_ANNOTATION];
    if (typeof preferred === 'string' && containers.includes(preferred)) container = preferred;
    else {
      if (preferred !== undefined)
        warnings.push(`podmeta: ${DEFAULT_CONTAINER_ANNOTATION}=${JSON.stringify(preferred)} names no container; resources describe ${containers[0]}`);
      container = containers[0];
    }
  }
  return { env, container: container ?? '', warnings };
}
