// A load-client worker process (forked by fanout.ts / longpoll.ts): many raw `net` sockets to the agent,
// each costing a few hundred bytes here, so 10 000 subscribers fit in a few small processes that never
// share the agent's event loop. Controlled over IPC:
//   {cmd:'sse', host, port, n, path, batch}        open n SSE streams; reply {type:'ready', ok, failed}
//                                                  once each has its snapshot; then for every socket the
//                                                  first `event: change` is timestamped; reply
//                                                  {type:'changed', times[], missing} when all have one
//                                                  or on {cmd:'report'}
//   {cmd:'longpoll', host, port, n, path, etag}    send n long-polls (If-None-Match: etag); reply
//                                                  {type:'sent'}; each answer's first byte is timestamped;
//                                                  reply {type:'answered', times[], statuses} when all
//                                                  answered or on {cmd:'report'}
//   {cmd:'close'}                                  destroy every socket and exit
// Times are performance.timeOrigin + performance.now() (ms, comparable across processes).

import { connect, type Socket } from 'node:net';

interface Conn {
  socket: Socket;
  tail: string;
  snapshot: boolean;
  changedAt: number;
  answeredAt: number;
  status: number;
}

type Msg =
  | { cmd: 'sse'; host: string; port: number; n: number; path: string; batch: number }
  | { cmd: 'longpoll'; host: string; port: number; n: number; path: string; etag: string; batch: number }
  | { cmd: 'report' }
  | { cmd: 'close' };

const now = (): number => performance.timeOrigin + performance.now();
const conns: Conn[] = [];
let mode: 'sse' | 'longpoll' | undefined;
let reported = false;
let failed = 0;

function send(m: unknown): void {
  process.send?.(m);
}

function maybeReport(force = false): void {
  if (reported) return;
  if (mode === 'sse') {
    const done = conns.filter((c) => c.changedAt > 0);
    if (force || done.length === conns.length) {
      reported = true;
      send({ type: 'changed', times: done.map((c) => c.changedAt), missing: conns.length - done.length });
    }
  } else if (mode === 'longpoll') {
    const done = conns.filter((c) => c.answeredAt > 0);
    if (force || done.length === conns.length) {
      reported = true;
      const statuses: Record<string, number> = {};
      for (const c of done) statuses[c.status] = (statuses[c.status] ?? 0) + 1;
      send({ type: 'answered', times: done.map((c) => c.answeredAt), statuses, missing: conns.length - done.length });
    }
  }
}

function open(host: string, port: number, request: string, onData: (c: Conn, text: string) => void): Promise<Conn | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const c: Conn = { socket, tail: '', snapshot: false, changedAt: 0, answeredAt: 0, status: 0 };
    let settled = false;
    socket.setEncoding('latin1');
    socket.once('connect', () => {
      socket.write(request);
      settled = true;
      resolve(c);
    });
    socket.on('data', (text: string) => onData(c, text));
    socket.on('error', () => {
      if (!settled) {
        settled = true;
        failed++;
        resolve(undefined);
      }
    });
  });
}

async function openSse(m: Extract<Msg, { cmd: 'sse' }>): Promise<void> {
  mode = 'sse';
  const req = `GET /events${m.path} HTTP/1.1\r\nHost: ${m.host}:${m.port}\r\nMetadata: true\r\nAccept: text/event-stream\r\n\r\n`;
  let snapshots = 0;
  let snapshotWaiters: (() => void)[] = [];
  const onData = (c: Conn, text: string): void => {
    // search in (previous tail + this chunk): a marker split across TCP reads is still found
    const s = c.tail + text;
    if (!c.snapshot && s.includes('event: snapshot')) {
      c.snapshot = true;
      snapshots++;
      const w = snapshotWaiters;
      snapshotWaiters = [];
      for (const f of w) f();
    }
    if (c.snapshot && c.changedAt === 0 && s.includes('event: change')) {
      c.changedAt = now();
      maybeReport();
    }
    c.tail = s.slice(-32);
  };
  for (let i = 0; i < m.n; i += m.batch) {
    const k = Math.min(m.batch, m.n - i);
    const opened = await Promise.all(Array.from({ length: k }, () => open(m.host, m.port, req, onData)));
    for (const c of opened) if (c) conns.push(c);
    // let this batch get its snapshots before opening the next (keeps the accept backlog short)
    const target = conns.length;
    const deadline = Date.now() + 10_000;
    while (snapshots < target && Date.now() < deadline) await new Promise<void>((r) => snapshotWaiters.push(r) && setTimeout(r, 50));
  }
  send({ type: 'ready', ok: snapshots, failed: failed + (conns.length - snapshots) });
}

async function openLongPolls(m: Extract<Msg, { cmd: 'longpoll' }>): Promise<void> {
  mode = 'longpoll';
  const req = `GET /metadata${m.path}${m.path.includes('?') ? '&' : '?'}wait=true&timeout=120 HTTP/1.1\r\nHost: ${m.host}:${m.port}\r\nMetadata: true\r\nIf-None-Match: ${m.etag}\r\n\r\n`;
  const onData = (c: Conn, text: string): void => {
    if (c.answeredAt === 0) {
      c.answeredAt = now();
      c.status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      maybeReport();
    }
  };
  for (let i = 0; i < m.n; i += m.batch) {
    const k = Math.min(m.batch, m.n - i);
    const opened = await Promise.all(Array.from({ length: k }, () => open(m.host, m.port, req, onData)));
    for (const c of opened) if (c) conns.push(c);
  }
  send({ type: 'sent', ok: conns.length, failed });
}

process.on('message', (m: Msg) => {
  switch (m.cmd) {
    case 'sse':
      void openSse(m);
      break;
    case 'longpoll':
      void openLongPolls(m);
      break;
    case 'report':
      maybeReport(true);
      break;
    case 'close':
      for (const c of conns) c.socket.destroy();
      process.disconnect?.();
      setImmediate(() => process.exit(0));
      break;
  }
});
send({ type: 'started' });
