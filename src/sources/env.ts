// Pure: the injected environment → the env source's part. Env may hold secrets, so only these names are read,
// and nothing else from env is returned (README "Configuration" lists them):
//
//   POD_NAME, POD_NAMESPACE, POD_UID, POD_IP, POD_IPS (comma-joined), NODE_NAME, HOST_IP, HOST_IPS (comma-joined),
//   SERVICE_ACCOUNT, else SERVICE_ACCOUNT_NAME (the first non-empty one);
//   resource variables matching exactly
//     ^CONTAINER_(CPU|MEMORY|MEM|EPHEMERAL_STORAGE)_(REQUEST|REQUESTS|LIMIT|LIMITS)(_<UNIT>)?$
//   where <UNIT> is letters only (MILLICORES, CORES, BYTES, KIBIBYTES, MIBIBYTES, MEBIBYTES, MiB, GIBIBYTES, ...;
//   see parseResourceName). No unit = divisor 1 (cores / bytes). e.g. CONTAINER_CPU_REQUEST_MILLICORES,
//   CONTAINER_MEMORY_LIMIT_KIBIBYTES, CONTAINER_EPHEMERAL_STORAGE_LIMIT_GIBIBYTES, CONTAINER_MEMORY_LIMIT.
//
// Values are raw (env is never Go-quoted) and kept exact; an empty string is "unset". IPs are checked with
// node:net isIP: an invalid one (e.g. an unexpanded "$(POD_IP)") is dropped and reported as a problem. When only
// POD_IPS / HOST_IPS is set, `ip` / `hostIP` is its first entry (Kubernetes guarantees podIPs[0] == podIP); the
// reverse is not derived (a dual-stack pod has more than one IP).

import { isIP } from 'node:net';
import type { NodeInfo, PodInfo, ResourceReading, SourcePart, SourceState } from '../document.js';
import type { StatusError } from '../status.js';
import { parseResourceName, readingFromValue } from '../quantity.js';

export interface EnvProblem {
  variable: string;
  message: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The strict name pattern for resource variables (a random app variable never matches). */
export const RESOURCE_ENV_PATTERN = /^CONTAINER_(?:CPU|MEMORY|MEM|EPHEMERAL_STORAGE)_(?:REQUESTS?|LIMITS?)(?:_[A-Za-z]+)?$/;

const get = (env: Env, name: string): string | undefined => {
  const v = Object.hasOwn(env, name) ? env[name] : undefined;
  return v === undefined || v === '' ? undefined : v;
};

function ipList(env: Env, name: string, problems: EnvProblem[]): string[] | undefined {
  const raw = get(env, name);
  if (raw === undefined) return undefined;
  const ips: string[] = [];
  for (const piece of raw.split(',')) {
    const ip = piece.trim();
    if (ip === '') continue;
    if (isIP(ip) === 0) problems.push({ variable: name, message: `${JSON.stringify(ip)} is not an IP address` });
    else ips.push(ip);
  }
  return ips.length > 0 ? ips : undefined;
}

function oneIp(env: Env, name: string, problems: EnvProblem[]): string | undefined {
  const raw = get(env, name);
  if (raw === undefined) return undefined;
  const ip = raw.trim();
  if (isIP(ip) === 0) {
    problems.push({ variable: name, message: `${JSON.stringify(raw)} is not an IP address` });
    return undefined;
  }
  return ip;
}

/** Injected env → the env source's part, plus problems (bad values are reported and left out, never fatal). */
export function partFromEnv(env: Env): { part: SourcePart; problems: EnvProblem[] } {
  const problems: EnvProblem[] = [];
  const pod: { -readonly [K in keyof PodInfo]: PodInfo[K] } = {};
  const node: { -readonly [K in keyof NodeInfo]: NodeInfo[K] } = {};

  const name = get(env, 'POD_NAME');
  if (name !== undefined) pod.name = name;
  const namespace = get(env, 'POD_NAMESPACE');
  if (namespace !== undefined) pod.namespace = namespace;
  const uid = get(env, 'POD_UID');
  if (uid !== undefined) pod.uid = uid;
  const ip = oneIp(env, 'POD_IP', problems);
  const ips = ipList(env, 'POD_IPS', problems);
  if (ip !== undefined) pod.ip = ip;
  else if (ips !== undefined) pod.ip = ips[0]!;
  if (ips !== undefined) pod.ips = ips;
  const sa = get(env, 'SERVICE_ACCOUNT') ?? get(env, 'SERVICE_ACCOUNT_NAME');
  if (sa !== undefined) pod.serviceAccount = sa;

  const nodeName = get(env, 'NODE_NAME');
  if (nodeName !== undefined) node.name = nodeName;
  const hostIP = oneIp(env, 'HOST_IP', problems);
  const hostIPs = ipList(env, 'HOST_IPS', problems);
  if (hostIP !== undefined) node.hostIP = hostIP;
  else if (hostIPs !== undefined) node.hostIP = hostIPs[0]!;
  if (hostIPs !== undefined) node.hostIPs = hostIPs;

  const readings: ResourceReading[] = [];
  for (const variable of Object.keys(env).sort()) {
    if (!RESOURCE_ENV_PATTERN.test(variable)) continue;
    const raw = get(env, variable);
    if (raw === undefined) continue;
    const spec = parseResourceName(variable);
    if (spec === undefined) {
      problems.push({ variable, message: 'unknown unit (expected e.g. MILLICORES, CORES, BYTES, KIBIBYTES, MEBIBYTES)' });
      continue;
    }
    try {
      readings.push(readingFromValue(spec, raw));
    } catch (err) {
      problems.push({ variable, message: (err as Error).message });
    }
  }

  const part: SourcePart = {};
  if (Object.keys(pod).length > 0) part.pod = pod;
  if (Object.keys(node).length > 0) part.node = node;
  if (readings.length > 0) part.readings = readings;
  return { part, problems };
}

/** The env source's status: env is read once at start and never changes, so this is final. */
export function envStatus(problems: readonly EnvProblem[]): { state: SourceState; error?: StatusError } {
  if (problems.length === 0) return { state: 'ok' };
  return {
    state: 'degraded',
    error: {
      reason: 'BadValue',
      message: problems.map((p) => `${p.variable}: ${p.message}`).join('; '),
      hint: 'fix the env entries in the pod spec (fieldRef / resourceFieldRef); env never changes after the container starts',
    },
  };
}
