// Inverse of Go's `%q` (strconv.Quote) and of kubelet's FormatMap (pkg/fieldpath), used for the downwardAPI
// `labels` / `annotations` files. Kubernetes: pkg/fieldpath/fieldpath.go FormatMap, Go's strconv.Quote.
//
// Bytes, not characters: Go strings are byte strings and `%q` writes an invalid UTF-8 byte as `\xHH`, so an
// escape may produce half of a multi-byte character. We therefore collect the unquoted BYTES first and decode
// UTF-8 once at the end. JSON cannot carry raw bytes, so invalid UTF-8 in the result becomes U+FFFD (the same
// WHATWG "maximal subpart" replacement TextDecoder uses); a leading BOM is kept, never stripped.

/** Thrown for malformed quoted strings / map files. `offset` is the byte offset of the problem in the input. */
export class GoQuoteError extends Error {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.name = 'GoQuoteError';
    this.offset = offset;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** UTF-8 → string, invalid sequences → U+FFFD, a leading BOM kept. The one decoder this module uses. */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const CR = 0x0d;
const EQUALS = 0x3d;

const SIMPLE_ESCAPES: Readonly<Record<number, number>> = {
  0x61: 0x07, // \a
  0x62: 0x08, // \b
  0x66: 0x0c, // \f
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
  0x76: 0x0b, // \v
  0x5c: 0x5c, // \\
  0x22: 0x22, // \"
};

function hexValue(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10;
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10;
  return -1;
}

function show(b: number): string {
  return b >= 0x21 && b < 0x7f ? String.fromCharCode(b) : `0x${b.toString(16).padStart(2, '0')}`;
}

/** Write the UTF-8 encoding of a valid rune into out at pos; returns the new position. */
function putRune(out: Uint8Array, pos: number, r: number): number {
  if (r < 0x80) {
    out[pos++] = r;
  } else if (r < 0x800) {
    out[pos++] = 0xc0 | (r >> 6);
    out[pos++] = 0x80 | (r & 0x3f);
  } else if (r < 0x10000) {
    out[pos++] = 0xe0 | (r >> 12);
    out[pos++] = 0x80 | ((r >> 6) & 0x3f);
    out[pos++] = 0x80 | (r & 0x3f);
  } else {
    out[pos++] = 0xf0 | (r >> 18);
    out[pos++] = 0x80 | ((r >> 12) & 0x3f);
    out[pos++] = 0x80 | ((r >> 6) & 0x3f);
    out[pos++] = 0x80 | (r & 0x3f);
  }
  return pos;
}

/** Unquote the Go double-quoted literal in `src[start, end)` (quotes included) into raw bytes; error offsets index src. */
function unquoteBytes(src: Uint8Array, start: number, end: number): Uint8Array {
  if (end - start < 1 || src[start] !== QUOTE) {
    throw new GoQuoteError('expected a double-quoted string starting with \'"\'', start);
  }
  // Unquoted output is never longer than the quoted input: one buffer, one pass, linear time.
  const out = new Uint8Array(end - start);
  let n = 0;
  let i = start + 1;
  for (;;) {
    if (i >= end) throw new GoQuoteError('unterminated string: missing closing \'"\'', i);
    const c = src[i]!;
    if (c === QUOTE) break;
    if (c === NEWLINE) throw new GoQuoteError('raw newline inside a quoted string', i);
    if (c !== BACKSLASH) {
      out[n++] = c; // raw byte, copied as-is (printable UTF-8 stays raw in %q output)
      i++;
      continue;
    }
    const escStart = i;
    if (i + 1 >= end) throw new GoQuoteError('unterminated escape sequence at end of input', i);
    const e = src[i + 1]!;
    i += 2;
    const simple = SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out[n++] = simple;
      continue;
    }
    if (e === 0x78 || e === 0x75 || e === 0x55) {
      // \xHH: one byte; \uHHHH, \UHHHHHHHH: one rune
      const digits = e === 0x78 ? 2 : e === 0x75 ? 4 : 8;
      if (i + digits > end) throw new GoQuoteError(`truncated \\${String.fromCharCode(e)} escape`, escStart);
      let v = 0;
      for (let k = 0; k < digits; k++) {
        const h = hexValue(src[i + k]!);
        if (h < 0) {
          throw new GoQuoteError(
            `invalid hex digit ${show(src[i + k]!)} in \\${String.fromCharCode(e)} escape`,
            i + k,
          );
        }
        v = v * 16 + h;
      }
      i += digits;
      if (e === 0x78) {
        out[n++] = v;
      } else {
        if (v > 0x10ffff) throw new GoQuoteError(`escaped rune U+${v.toString(16)} is beyond U+10FFFF`, escStart);
        if (v >= 0xd800 && v <= 0xdfff) {
          throw new GoQuoteError(`escaped rune U+${v.toString(16)} is a surrogate half`, escStart);
        }
        n = putRune(out, n, v);
      }
      continue;
    }
    if (e >= 0x30 && e <= 0x37) {
      // \ooo: exactly three octal digits, value <= 255, one byte
      if (i + 2 > end) throw new GoQuoteError('truncated octal escape', escStart);
      let v = e - 0x30;
      for (let k = 0; k < 2; k++) {
        const d = src[i + k]!;
        if (d < 0x30 || d > 0x37) throw new GoQuoteError(`invalid octal digit ${show(d)} in escape`, i + k);
        v = v * 8 + (d - 0x30);
      }
      if (v > 255) throw new GoQuoteError(`octal escape value ${v} is above 255`, escStart);
      i += 2;
      out[n++] = v;
      continue;
    }
    throw new GoQuoteError(`unknown escape sequence \\${show(e)}`, escStart);
  }
  // i is at the closing quote
  if (i + 1 !== end) throw new GoQuoteError('unexpected bytes after the closing \'"\'', i + 1);
  return out.subarray(0, n);
}

/**
 * Unquote one Go double-quoted string literal given as raw bytes INCLUDING the surrounding quotes, as Go's
 * strconv.Unquote does: `\a \b \f \n \r \t \v \\ \"`, `\xHH`, `\ooo` (octal, <= 255), `\uHHHH`, `\UHHHHHHHH`
 * (hex digits in either case; surrogates and runes above U+10FFFF rejected). Rejected: `\'` and any other escape,
 * a raw newline, a missing closing quote, anything after it. Raw bytes are copied as-is; escapes append a byte
 * (`\x`, octal) or the UTF-8 of a rune (`\u`, `\U`); the collected bytes are decoded as UTF-8 once at the end
 * (invalid sequences → U+FFFD, because JSON cannot hold raw bytes).
 * @throws GoQuoteError on malformed input
 */
export function unquoteGo(quoted: Uint8Array): string {
  return decodeUtf8(unquoteGoBytes(quoted));
}

/** Like unquoteGo, but returns the unquoted bytes exactly (no UTF-8 decoding). @throws GoQuoteError */
export function unquoteGoBytes(quoted: Uint8Array): Uint8Array {
  return unquoteBytes(quoted, 0, quoted.length);
}

/**
 * Parse a kubelet FormatMap file (the downwardAPI `labels` / `annotations` item): lines `key="value"` (value in
 * Go `%q`), joined by "\n", no trailing newline; a 0-byte file is `{}`. Each line is split at its first '='.
 *
 * Leniency (kubelet never writes these, but hand-made or test volumes do, and they are unambiguous because
 * nothing may follow a closing quote): ONE trailing "\n" at the end of the file is ignored, and a "\r" right
 * before a line break or the end of the file is ignored (CRLF files). Any other empty line, a line without '=',
 * an empty key, a duplicate key (impossible in a Go map) or a malformed value throws GoQuoteError whose message
 * names the 1-based line number and whose `offset` is the byte offset in the whole file.
 *
 * Keys are decoded as UTF-8 like values. The result is an ordinary object built with Object.fromEntries, so
 * keys such as "__proto__" or "constructor" become own properties (no prototype pollution, they round-trip).
 * Linear time in the input size.
 */
export function parseGoMap(content: Uint8Array): Record<string, string> {
  const entries = new Map<string, string>();
  let end = content.length;
  if (end > 0 && content[end - 1] === NEWLINE) end--; // tolerate one trailing newline
  if (end === 0) return {};
  let lineStart = 0;
  let lineNo = 0;
  while (lineStart <= end) {
    lineNo++;
    let lineEnd = content.indexOf(NEWLINE, lineStart);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    let valueEnd = lineEnd;
    if (valueEnd > lineStart && content[valueEnd - 1] === CR) valueEnd--;
    if (valueEnd === lineStart) throw new GoQuoteError(`line ${lineNo}: empty line`, lineStart);
    let eq = content.indexOf(EQUALS, lineStart);
    if (eq >= valueEnd) eq = -1;
    if (eq < 0) throw new GoQuoteError(`line ${lineNo}: expected key="value" but found no '='`, lineStart);
    if (eq === lineStart) throw new GoQuoteError(`line ${lineNo}: empty key before '='`, lineStart);
    const key = decodeUtf8(content.subarray(lineStart, eq));
    let value: string;
    try {
      value = decodeUtf8(unquoteBytes(content, eq + 1, valueEnd));
    } catch (err) {
      if (err instanceof GoQuoteError) {
        throw new GoQuoteError(`line ${lineNo}: value of key ${JSON.stringify(key)}: ${err.message}`, err.offset);
      }
      throw err;
    }
    if (entries.has(key)) throw new GoQuoteError(`line ${lineNo}: duplicate key ${JSON.stringify(key)}`, lineStart);
    entries.set(key, value);
    lineStart = lineEnd + 1;
  }
  return Object.fromEntries(entries);
}
