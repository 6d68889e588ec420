// A Go `strconv.Quote` / `%q` encoder, written from Go's source (strconv/quote.go appendQuotedWith and
// appendEscapedRune, unicode/utf8 DecodeRune), for tests only. Input is BYTES (a Go string), so invalid UTF-8
// can be produced; output is the quoted literal as a JS string (always valid Unicode).
//
// Rules, in Go's order, for each rune decoded with utf8.DecodeRune (an invalid byte decodes as RuneError, width 1):
//   invalid byte                    → \xHH (lowercase hex)
//   '"' or '\\'                     → backslash + the char
//   strconv.IsPrint(r)              → raw (L, M, N, P, S categories, plus U+0020 only among spaces)
//   \a \b \f \n \r \t \v            → those escapes
//   r < 0x20 or r == 0x7f           → \xHH
//   r < 0x10000                     → \uHHHH
//   otherwise                       → \UHHHHHHHH
// JS's Unicode tables may be newer or older than Go's; this only decides raw-vs-escaped for rare code points,
// and the unquoter accepts both forms.

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** Go's strconv.IsPrint, via JS Unicode property escapes. */
export function isGoPrint(r: number): boolean {
  if (r === 0x20) return true;
  if (r >= 0xd800 && r <= 0xdfff) return false;
  return PRINTABLE.test(String.fromCodePoint(r));
}

/** Go's utf8.DecodeRune: [rune, width]; an invalid or truncated sequence gives [0xfffd, 1]. */
export function decodeRune(b: Uint8Array, i: number): [number, number] {
  const b0 = b[i]!;
  if (b0 < 0x80) return [b0, 1];
  const bad: [number, number] = [0xfffd, 1];
  const cont = (k: number, lo = 0x80, hi = 0xbf): number => {
    const v = b[i + k];
    return v !== undefined && v >= lo && v <= hi ? v & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? bad : [((b0 & 0x1f) << 6) | c1, 2];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    // E0: A0..BF (no overlongs); ED: 80..9F (no surrogates)
    const c1 = b0 === 0xe0 ? cont(1, 0xa0) : b0 === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    const c2 = cont(2);
    return c1 < 0 || c2 < 0 ? bad : [((b0 & 0x0f) << 12) | (c1 << 6) | c2, 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    // F0: 90..BF (no overlongs); F4: 80..8F (<= U+10FFFF)
    const c1 = b0 === 0xf0 ? cont(1, 0x90) : b0 === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    const c2 = cont(2);
    const c3 = cont(3);
    return c1 < 0 || c2 < 0 || c3 < 0 ? bad : [((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4];
  }
  return bad;
}

const hex = (v: number, width: number): string => v.toString(16).padStart(width, '0');

const NAMED: Readonly<Record<number, string>> = {
  0x07: '\\a',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x0b: '\\v',
};

/** Go `strconv.Quote(string(bytes))` — what `fmt.Sprintf("%q", s)` prints. */
export function goQuoteBytes(bytes: Uint8Array): string {
  let out = '"';
  for (let i = 0; i < bytes.length; ) {
    const [r, width] = decodeRune(bytes, i);
    if (width === 1 && r === 0xfffd) {
      out += '\\x' + hex(bytes[i]!, 2);
      i += 1;
      continue;
    }
    i += width;
    if (r === 0x22 || r === 0x5c) {
      out += '\\' + String.fromCharCode(r);
    } else if (isGoPrint(r)) {
      out += String.fromCodePoint(r);
    } else if (NAMED[r] !== undefined) {
      out += NAMED[r];
    } else if (r < 0x20 || r === 0x7f) {
      out += '\\x' + hex(r, 2);
    } else if (r < 0x10000) {
      out += '\\u' + hex(r, 4);
    } else {
      out += '\\U' + hex(r, 8);
    }
  }
  return out + '"';
}

const encoder = new TextEncoder();

/** Go `%q` of a JS string (encoded as UTF-8 first; lone surrogates would become U+FFFD). */
export function goQuote(s: string): string {
  return goQuoteBytes(encoder.encode(s));
}

/** Go's byte-wise string order (UTF-8 bytes), which differs from JS's UTF-16 order for astral characters. */
export function compareGoStrings(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** kubelet's fieldpath.FormatMap: `key="value"` lines (%q values), keys sorted byte-wise, "\n"-joined, no trailing newline. */
export function formatGoMap(map: Readonly<Record<string, string>>): string {
  return Object.keys(map)
    .sort(compareGoStrings)
    .map((k) => `${k}=${goQuote(map[k]!)}`)
    .join('\n');
}
