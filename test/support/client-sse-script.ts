// A scripted /events server for what the real agent never does (a patch that does not apply, a revision
// gap, an id from another run, a 4xx): connection n gets script[n] (the last one repeats). Every request's
// headers are recorded.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { TestContext } from 'node:test';

export type Script = (res: ServerResponse) => void;

export interface ScriptedServer {
  url: string;
  requests: { url: string; headers: IncomingHttpHeaders }[];
}

/** `event: <type>\nid: <id>\ndata: <json>\n\n` */
export function sse(type: string, id: string, data: unknown): string {
  return `event: ${type}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** A script that answers an event stream and writes these chunks (kept open afterwards). */
export function stream(...chunks: string[]): Script {
  return (res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('retry: 20\n\n');
    for (const c of chunks) res.write(c);
  };
}

export async function scripted(t: TestContext, scripts: Script[]): Promise<ScriptedServer> {
  const requests: ScriptedServer['requests'] = [];
  const server = createServer((req, res) => {
    const n = requests.length;
    requests.push({ url: req.url ?? '', headers: req.headers });
    scripts[Math.min(n, scripts.length - 1)]!(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, requests };
}
