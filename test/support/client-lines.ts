// JSON lines from a child process's stdout, collected as they arrive (for recipes and packaged apps that
// print one JSON value per line).
import type { Readable } from 'node:stream';

export function jsonLines(stream: Readable): Record<string, any>[] {
  const lines: Record<string, any>[] = [];
  let buf = '';
  stream.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, any>);
      buf = buf.slice(nl + 1);
    }
  });
  return lines;
}
