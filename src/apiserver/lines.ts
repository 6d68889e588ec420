// Splits a chunked watch stream into lines at the byte level. A chunk may end anywhere — mid-line or in the
// middle of a multi-byte UTF-8 character — so bytes are buffered until a '\n' (0x0A never occurs inside a
// UTF-8 sequence) and each whole line is decoded once.

const NL = 0x0a;

export class LineDecoder {
  private pending: Buffer[] = [];
  private pendingSize = 0;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly maxLineBytes = 16 * 1024 * 1024) {}

  /** Feed a chunk; returns every completed non-empty line. Throws when a line exceeds the limit. */
  push(chunk: Uint8Array): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let i = chunk.indexOf(NL); i !== -1; i = chunk.indexOf(NL, start)) {
      const piece = chunk.subarray(start, i);
      const bytes = this.pendingSize === 0 ? piece : Buffer.concat([...this.pending, piece]);
      this.pending = [];
      this.pendingSize = 0;
      const line = this.decoder.decode(bytes).trim();
      if (line) lines.push(line);
      start = i + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.pendingSize += rest.length;
      if (this.pendingSize > this.maxLineBytes) throw new Error(`watch line longer than ${this.maxLineBytes} bytes`);
      this.pending.push(Buffer.from(rest));
    }
    return lines;
  }

  /** What is left after the stream ended without a final newline (may be a whole JSON object, or a torn one). */
  rest(): string | undefined {
    if (this.pendingSize === 0) return undefined;
    const line = this.decoder.decode(Buffer.concat(this.pending)).trim();
    this.pending = [];
    this.pendingSize = 0;
    return line || undefined;
  }
}
