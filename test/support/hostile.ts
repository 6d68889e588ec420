// The one list of hostile requests: raw bytes a misbehaving or malicious client sends to the metadata
// listener, each with the answers the contract allows. `npm run soak` (bench/soak.ts) fires them at the
// built agent under load; test/fuzz.test.ts sends them, in random orders, to an in-process agent.

import { connect } from 'node:net';
import { randomBytes, randomInt } from 'node:crypto';

export interface RawResult {
  status: number | undefined;
  statuses: number[];
  closed: boolean;
  body: string;
}

/** Send raw bytes on a fresh connection; collect every status line, whether the agent closed, the first body. */
export function raw(host: string, port: number, data: Buffer | string, timeoutMs = 3000): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let buf = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(t);
      s.destroy();
      const statuses = [...buf.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      const sep = buf.indexOf('\r\n\r\n');
      resolve({ status: statuses[0], statuses, closed, body: sep >= 0 ? buf.slice(sep + 4) : '' });
    };
    const t = setTimeout(() => finish(false), timeoutMs);
    s.setEncoding('latin1');
    s.on('connect', () => s.write(data));
    s.on('data', (d: string) => {
      buf += d;
      if (buf.length > 1 << 20) finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
  });
}

export const req = (path: string, extra = '', method = 'GET'): string => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\nConnection: close\r\n${extra}\r\n`;

/** `ok`: the answers the contract allows for it (never a 5xx). */
export type Hostile = { name: string; data: () => Buffer | string; ok: (r: RawResult) => boolean };

export const HOSTILE: Hostile[] = [
  { name: 'oversized headers', data: () => req('/metadata', `X-Big: ${'a'.repeat(20_000)}\r\n`), ok: (r) => r.status === 431 || (r.status === undefined && r.closed) },
  { name: 'invalid percent-encoding in path', data: () => req('/metadata/pod/labels/%E0%A4%A'), ok: (r) => r.status === 400 || r.status === 404 },
  { name: 'bad escape %zz', data: () => req('/metadata/%zz'), ok: (r) => r.status === 400 },
  { name: 'invalid percent-encoding in query', data: () => req('/metadata?format=%zz'), ok: (r) => r.status === 400 },
  { name: 'dot-dot path', data: () => req('/../../etc/passwd'), ok: (r) => r.status === 404 || r.status === 400 },
  { name: 'deep path', data: () => req(`/metadata/${'a/'.repeat(3000)}`), ok: (r) => r.status === 404 || r.status === 414 || r.status === 431 || r.status === 400 },
  { name: 'proto path', data: () => req('/metadata/__proto__/polluted'), ok: (r) => r.status === 404 },
  { name: 'constructor path', data: () => req('/metadata/constructor'), ok: (r) => r.status === 404 },
  { name: 'huge array index', data: () => req('/metadata/pod/containers/99999999999999999999'), ok: (r) => r.status === 404 },
  { name: 'huge query string', data: () => req(`/metadata?x=${'a'.repeat(12_000)}`), ok: (r) => r.status === 200 || r.status === 400 || r.status === 414 || r.status === 431 },
  { name: 'repeated query param', data: () => req('/metadata?format=text&format=json'), ok: (r) => r.status === 400 },
  { name: 'bad timeout', data: () => req('/metadata?wait=true&timeout=1e9'), ok: (r) => r.status === 400 },
  { name: 'bad wait', data: () => req('/metadata?wait=%ff'), ok: (r) => r.status === 400 },
  { name: 'bad events path', data: () => req('/events?path=%zz'), ok: (r) => r.status === 400 },
  { name: 'body on GET', data: () => req('/metadata', 'Content-Length: 5\r\n') + 'hello', ok: (r) => r.status === 400 && r.closed },
  { name: 'chunked body on GET', data: () => req('/metadata', 'Transfer-Encoding: chunked\r\n') + '5\r\nhello\r\n0\r\n\r\n', ok: (r) => r.status === 400 && r.closed },
  { name: 'garbage bytes', data: () => randomBytes(randomInt(1, 2000)), ok: (r) => r.status === 400 || r.status === undefined },
  {
    name: 'TLS ClientHello',
    data: () => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03]), randomBytes(190)]),
    ok: (r) => r.status === 400 || r.status === undefined,
  },
  { name: 'no Metadata header', data: () => 'GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', ok: (r) => r.status === 403 },
  { name: 'X-Forwarded-For', data: () => req('/metadata', 'X-Forwarded-For: 10.0.0.1\r\n'), ok: (r) => r.status === 403 },
  { name: 'POST', data: () => req('/metadata', 'Content-Length: 2\r\n', 'POST') + '{}', ok: (r) => r.status === 405 },
  { name: 'DELETE events', data: () => req('/events', '', 'DELETE'), ok: (r) => r.status === 405 },
  { name: 'unknown method', data: () => req('/metadata', '', 'BREW'), ok: (r) => r.status === 400 || r.status === 405 || r.status === 501 },
  { name: 'NUL in header', data: () => req('/metadata', 'X-A: a\u0000b\r\n'), ok: (r) => r.status === 400 },
  // no Host is not a loopback Host: the metadata listener's Host rule (DNS rebinding) refuses it
  { name: 'HTTP/1.0 no Host', data: () => 'GET /metadata HTTP/1.0\r\nMetadata: true\r\n\r\n', ok: (r) => r.status === 403 },
  { name: 'foreign Host (DNS rebinding)', data: () => 'GET /metadata HTTP/1.1\r\nHost: attacker.example\r\nMetadata: true\r\nConnection: close\r\n\r\n', ok: (r) => r.status === 403 },
  {
    name: 'pipelined x5',
    data: () => 'GET /metadata HTTP/1.1\r\nHost: 127.0.0.1\r\nMetadata: true\r\n\r\n'.repeat(4) + req('/metadata/pod/name'),
    ok: (r) => r.statuses.length === 5 && r.statuses.every((s) => s === 200),
  },
];
