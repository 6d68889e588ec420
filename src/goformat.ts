// Go's strconv.Quote (`%q`) for a JS string: what kubelet writes for label/annotation values, so the
// text format of a map is byte-for-byte the downwardAPI file format. A lone UTF-16 surrogate (which has
// no UTF-8 encoding) is written as \ufffd, as Go writes utf8.RuneError. Printability is Go >= 1.21's
// (Unicode 15.0.0, a fixed table), not the runtime's ICU: see go-isprint.ts.

import { isGoPrint } from './go-isprint.js';

const NAMED: Record<number, string> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };

export function quoteGo(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === '\\') out += '\\' + ch;
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\\ufffd';
    else if (c >= 0x80 && isGoPrint(c)) out += ch;
    else if (NAMED[c] !== undefined) out += NAMED[c];
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c < 0x10000) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += '\\U' + c.toString(16).padStart(8, '0');
  }
  return out + '"';
}
