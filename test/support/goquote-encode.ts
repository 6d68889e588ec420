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
// Printability is that of Go >= 1.21 (Unicode 15.0.0), derived here independently of src/go-isprint.ts:
// the runtime's own Unicode categories (JS property escapes: Unicode 16 to 17 on the supported Node lines), minus the code
// points assigned after 15.0.0 (AFTER_15_0 below: unassigned in UCD 15.0.0, assigned in Unicode 17.0; no
// code point assigned in both changed printability). On a runtime newer than Unicode 17 this list needs the
// newer additions too (the "src and spec encoder agree" test in goquote.test.ts says so when it happens).

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

const AFTER_15_0: readonly string[] = [
  '0x88f-0x88f', '0x897-0x897', '0xc5c-0xc5c', '0xcdc-0xcdc', '0x1acf-0x1add', '0x1ae0-0x1aeb',
  '0x1b4e-0x1b4f', '0x1b7f-0x1b7f', '0x1c89-0x1c8a', '0x20c1-0x20c1', '0x2427-0x2429', '0x2b96-0x2b96',
  '0x2ffc-0x2fff', '0x31e4-0x31e5', '0x31ef-0x31ef', '0xa7cb-0xa7cf', '0xa7d2-0xa7d2', '0xa7d4-0xa7d4',
  '0xa7da-0xa7dc', '0xa7f1-0xa7f1', '0xfbc3-0xfbd2', '0xfd90-0xfd91', '0xfdc8-0xfdce', '0x105c0-0x105f3',
  '0x10940-0x10959', '0x10d40-0x10d65', '0x10d69-0x10d85', '0x10d8e-0x10d8f', '0x10ec2-0x10ec7',
  '0x10ed0-0x10ed8', '0x10efa-0x10efc', '0x11380-0x11389', '0x1138b-0x1138b', '0x1138e-0x1138e',
  '0x11390-0x113b5', '0x113b7-0x113c0', '0x113c2-0x113c2', '0x113c5-0x113c5', '0x113c7-0x113ca',
  '0x113cc-0x113d5', '0x113d7-0x113d8', '0x113e1-0x113e2', '0x116d0-0x116e3', '0x11b60-0x11b67',
  '0x11bc0-0x11be1', '0x11bf0-0x11bf9', '0x11db0-0x11ddb', '0x11de0-0x11de9', '0x11f5a-0x11f5a',
  '0x13460-0x143fa', '0x16100-0x16139', '0x16d40-0x16d79', '0x16ea0-0x16eb8', '0x16ebb-0x16ed3',
  '0x16ff2-0x16ff6', '0x187f8-0x187ff', '0x18cff-0x18cff', '0x18d09-0x18d1e', '0x18d80-0x18df2',
  '0x1cc00-0x1ccfc', '0x1cd00-0x1ceb3', '0x1ceba-0x1ced0', '0x1cee0-0x1cef0', '0x1e5d0-0x1e5fa',
  '0x1e5ff-0x1e5ff', '0x1e6c0-0x1e6de', '0x1e6e0-0x1e6f5', '0x1e6fe-0x1e6ff', '0x1f6d8-0x1f6d8',
  '0x1f777-0x1f77a', '0x1f8b2-0x1f8bb', '0x1f8c0-0x1f8c1', '0x1f8d0-0x1f8d8', '0x1fa54-0x1fa57',
  '0x1fa89-0x1fa8a', '0x1fa8e-0x1fa8f', '0x1fabe-0x1fabe', '0x1fac6-0x1fac6', '0x1fac8-0x1fac8',
  '0x1facd-0x1facd', '0x1fadc-0x1fadc', '0x1fadf-0x1fadf', '0x1fae9-0x1faea', '0x1faef-0x1faef',
  '0x1fbcb-0x1fbef', '0x1fbfa-0x1fbfa', '0x2b73a-0x2b73f', '0x2cea2-0x2cead', '0x2ebf0-0x2ee5d',
  '0x323b0-0x33479',
];
const after15 = AFTER_15_0.map((r) => r.split('-').map((h) => parseInt(h, 16)) as [number, number]);

/** Go's strconv.IsPrint (Go >= 1.21, Unicode 15.0.0). */
export function isGoPrint(r: number): boolean {
  if (r >= 0x20 && r <= 0x7e) return true; // Go's own ASCII fast path (strconv.IsPrint: 0x20 <= r <= 0x7E)
  if (r >= 0xd800 && r <= 0xdfff) return false;
  if (after15.some(([a, b]) => r >= a && r <= b)) return false;
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
    // a run of printable ASCII other than '"' and '\\' is copied as is (what the rules below give it, faster)
    let j = i;
    while (j < bytes.length && bytes[j]! >= 0x20 && bytes[j]! <= 0x7e && bytes[j] !== 0x22 && bytes[j] !== 0x5c) j++;
    if (j > i) {
      out += Buffer.from(bytes.buffer, bytes.byteOffset + i, j - i).toString('latin1');
      i = j;
      continue;
    }
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
