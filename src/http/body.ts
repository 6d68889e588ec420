// Reading a request body whole, with a byte cap: the one reader of the proxy (write bodies) and the injector
// (AdmissionReviews). Past the cap it stops reading and resolves undefined; the caller answers 413.

import type { IncomingMessage } from 'node:http';

export function readBodyAtMost(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        req.removeAllListeners('data');
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(c);
    });
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
    req.once('aborted', () => reject(new Error('aborted')));
  });
}
