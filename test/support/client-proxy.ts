// Network faults between a client and a real agent, on loopback:
// - FaultProxy: a recording HTTP pass-through (every request's method, url and headers; every answer's status)
//   that can drop all open connections (the client sees a reset), freeze them (half-open: the sockets
//   stay open and nothing more arrives), or cut the next request before it reaches the agent.
// - blackHole(): a server that accepts connections and never answers.
// - freePort(): a port that was free a moment ago (for an agent that must come back on the same port).

import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { TestContext } from 'node:test';

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  status?: number;
}

export class FaultProxy {
  readonly requests: Recorded[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly frozen = new Set<() => void>();
  private cutNext = 0;

  private constructor(
    private readonly server: Server,
    readonly url: string,
    public target: string,
  ) {}

  static async start(t: TestContext | undefined, target: string): Promise<FaultProxy> {
    let self: FaultProxy | undefined;
    const server = createServer((req, res) => self!.handle(req, res));
    server.on('connection', (s) => {
      self!.sockets.add(s);
      s.on('close', () => self!.sockets.delete(s));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address() as { port: number };
    self = new FaultProxy(server, `http://127.0.0.1:${addr.port}`, target);
    t?.after(() => self!.close());
    return self;
  }

  private handle(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void {
    const rec: Recorded = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    this.requests.push(rec);
    if (this.cutNext > 0) {
      this.cutNext--;
      req.socket.destroy();
      return;
    }
    const target = new URL(this.target);
    const up = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
      (ures) => {
        rec.status = ures.statusCode;
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        let isFrozen = false;
        const freeze = (): void => {
          isFrozen = true;
          ures.pause();
        };
        this.frozen.add(freeze);
        ures.on('data', (c: Buffer) => {
          if (!isFrozen) res.write(c);
        });
        ures.on('end', () => {
          this.frozen.delete(freeze);
          if (!isFrozen) res.end();
        });
        ures.on('error', () => res.destroy());
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    req.pipe(up);
  }

  /** Reset every open client connection (the agent sees its side closed too). */
  drop(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Half-open: every response in flight stops moving; the sockets stay open. New requests work. */
  freeze(): void {
    for (const f of this.frozen) f();
    this.frozen.clear();
  }

  /** The next n requests are cut (socket destroyed) before they reach the agent. */
  cut(n = 1): void {
    this.cutNext += n;
  }

  /** requests whose url starts with a prefix */
  to(prefix: string): Recorded[] {
    return this.requests.filter((r) => r.url.startsWith(prefix));
  }

  async close(): Promise<void> {
    this.drop();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A server that accepts connections and reads, but never answers. Returns its URL. */
export async function blackHole(t: TestContext): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('data', () => {});
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

/** A loopback port nobody listens on (connections to it are refused). */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
