// Raw HTTP/1.1 over a socket, for what fetch cannot send: an arbitrary Host, an empty header, pipelining.
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** One exchange; the request should carry `Connection: close` (the answer is read until the socket closes). */
export function rawRequest(port: number, head: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.end(head));
    let out = '';
    sock.on('data', (d: Buffer) => (out += d.toString()));
    sock.on('error', reject);
    sock.on('close', () => {
      const i = out.indexOf('\r\n\r\n');
      resolve({ status: Number(out.slice(9, 12)), headers: out.slice(0, i), body: out.slice(i + 4) });
    });
  });
}

export const rawGet = (path: string, headers = 'Host: 127.0.0.1\r\nMetadata: true\r\n') => `GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;

/** A connected socket that collects what it receives. */
export async function openSocket(port: number): Promise<{ sock: Socket; received: () => string }> {
  const sock = connect(port, '127.0.0.1');
  let out = '';
  sock.on('data', (d: Buffer) => (out += d.toString('latin1')));
  sock.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return { sock, received: () => out };
}
