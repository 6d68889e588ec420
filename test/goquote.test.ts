import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GoQuoteError, decodeUtf8, parseGoMap, unquoteGo, unquoteGoBytes } from '../src/sources/goquote.js';
import { isGoPrint as srcIsGoPrint } from '../src/go-isprint.js';
import { quoteGo } from '../src/goformat.js';
import { compareGoStrings, formatGoMap, goQuote, goQuoteBytes, isGoPrint as specIsGoPrint } from './support/goquote-encode.js';

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const raw = (...b: number[]): Uint8Array => Uint8Array.from(b);
const concat = (...parts: (string | Uint8Array)[]): Uint8Array =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? bytes(p) : p)));

/** Go source text of a literal → our result. Written with String.raw so backslashes are what Go would see. */
const uq = (literal: string): string => unquoteGo(bytes(literal));

function throwsGo(fn: () => unknown, message?: RegExp): GoQuoteError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof GoQuoteError, `expected GoQuoteError, got ${String(caught)}`);
  if (message) assert.match(caught.message, message);
  assert.equal(typeof caught.offset, 'number');
  return caught;
}

describe('Go %q encoder (test support) matches known Go output', () => {
  // Each pair: Go input (as bytes) → what fmt.Sprintf("%q", s) prints in Go.
  const known: [string, Uint8Array, string][] = [
    ['ASCII space stays raw', bytes('a b'), '"a b"'],
    ['NBSP', bytes('a\u00a0b'), String.raw`"a\u00a0b"`],
    ['DEL', raw(0x7f), String.raw`"\x7f"`],
    ['emoji stays raw', bytes('\u{1F600}'), '"😀"'],
    ['supplementary private use', bytes('\u{F0000}'), String.raw`"\U000f0000"`],
    ['line separator', bytes('\u2028'), String.raw`"\u2028"`],
    ['NUL', raw(0), String.raw`"\x00"`],
    ['invalid byte', raw(0xff), String.raw`"\xff"`],
    ['named escapes', bytes('\x07\b\f\n\r\t\v'), String.raw`"\a\b\f\n\r\t\v"`],
    ['quote and backslash', bytes('"\\'), String.raw`"\"\\"`],
    ['single quote raw', bytes("it's"), `"it's"`],
    ['ESC', raw(0x1b), String.raw`"\x1b"`],
    ['zero-width space', bytes('\u200b'), String.raw`"\u200b"`],
    ['BOM', bytes('\ufeff'), String.raw`"\ufeff"`],
    ['soft hyphen', bytes('\u00ad'), String.raw`"\u00ad"`],
    ['C1 control NEL', bytes('\u0085'), String.raw`"\u0085"`],
    ['BMP private use', bytes('\ue000'), String.raw`"\ue000"`],
    ['ideographic space', bytes('\u3000'), String.raw`"\u3000"`],
    ['printable unicode raw', bytes('é日本'), '"é日本"'],
    ['truncated 3-byte sequence', raw(0xe6, 0x97), String.raw`"\xe6\x97"`],
    ['encoded surrogate', raw(0xed, 0xa0, 0x80), String.raw`"\xed\xa0\x80"`],
    ['overlong NUL', raw(0xc0, 0x80), String.raw`"\xc0\x80"`],
    ['above U+10FFFF', raw(0xf4, 0x90, 0x80, 0x80), String.raw`"\xf4\x90\x80\x80"`],
    ['U+FFFD itself is printable', bytes('\ufffd'), '"\ufffd"'],
    ['real annotation', bytes('multi\nline\nvalue\n'), String.raw`"multi\nline\nvalue\n"`],
  ];
  for (const [name, input, expected] of known) {
    it(name, () => assert.equal(goQuoteBytes(input), expected));
  }

  it('FormatMap sorts keys byte-wise, joins with \\n, no trailing newline, empty map is empty', () => {
    assert.equal(formatGoMap({}), '');
    assert.equal(formatGoMap({ b: '2', a: '1' }), 'a="1"\nb="2"');
    // Go compares UTF-8 bytes; JS's default sort compares UTF-16 units, and they disagree for U+E000 vs U+10000:
    assert.ok(compareGoStrings('\u{10000}', '\ue000') > 0);
    assert.ok('\u{10000}' < '\ue000'); // JS default order disagrees
  });
});

describe('unquoteGo', () => {
  it('plain and empty strings', () => {
    assert.equal(uq('""'), '');
    assert.equal(uq('"value1"'), 'value1');
    assert.equal(uq('"a b=c"'), 'a b=c');
  });

  it('every simple escape', () => {
    assert.equal(uq(String.raw`"\a\b\f\n\r\t\v"`), '\x07\b\f\n\r\t\v');
    assert.equal(uq(String.raw`"\"\\"`), '"\\');
    assert.equal(uq(String.raw`"say \"hi\""`), 'say "hi"');
  });

  it('real-world examples from kubelet files', () => {
    assert.equal(uq(String.raw`"multi\nline\nvalue\n"`), 'multi\nline\nvalue\n');
    assert.equal(
      uq(String.raw`"{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}\n"`),
      '{"apiVersion":"v1","kind":"Pod"}\n',
    );
    assert.equal(uq('"2024-05-01T10:15:03.123456789Z"'), '2024-05-01T10:15:03.123456789Z');
  });

  it('\\x bytes, lower and upper case hex, and control bytes', () => {
    assert.equal(uq(String.raw`"\x00\x1b\x7f"`), '\x00\x1b\x7f');
    assert.equal(uq(String.raw`"\x41\x4A\x4a"`), 'AJJ');
  });

  it('\\u and \\U runes (any hex case), non-printables Go escapes', () => {
    assert.equal(uq(String.raw`"a\u00a0b"`), 'a\u00a0b');
    assert.equal(uq(String.raw`"\u2028\u200b\u00ad\u0085\ue000"`), '\u2028\u200b\u00ad\u0085\ue000');
    assert.equal(uq(String.raw`"\u00E9\u00e9"`), 'éé');
    assert.equal(uq(String.raw`"\U000f0000"`), '\u{F0000}');
    assert.equal(uq(String.raw`"\U0001F600"`), '😀');
    assert.equal(uq(String.raw`"\U0010ffff"`), '\u{10FFFF}');
  });

  it('keeps a BOM (escaped or raw) at the start', () => {
    assert.equal(uq(String.raw`"\ufeffx"`), '\ufeffx');
    assert.equal(uq('"\ufeffx"'), '\ufeffx');
  });

  it('octal escapes', () => {
    assert.equal(uq(String.raw`"\101\000\177x"`), 'A\x00\x7fx');
    assert.equal(uq(String.raw`"\377"`), '\ufffd'); // byte 0xff alone is invalid UTF-8
    assert.equal(uq(String.raw`"\303\251"`), 'é');
  });

  it('raw UTF-8 is kept', () => {
    assert.equal(uq('"é 日本 😀 🇫🇷"'), 'é 日本 😀 🇫🇷');
    assert.equal(uq('"tab\there"'), 'tab\there'); // a raw tab is legal in a Go "..." literal
  });

  it('collects bytes and decodes UTF-8 once at the end', () => {
    assert.equal(uq(String.raw`"\xc3\xa9"`), 'é');
    assert.equal(uq(String.raw`"\xe6\x97\xa5\xe6\x9c\xac"`), '日本');
    assert.equal(uq(String.raw`"\xf0\x9f\x98\x80"`), '😀');
    // a raw lead byte continued by an escaped byte still forms one character
    assert.equal(unquoteGo(concat('"', raw(0xc3), String.raw`\xa9"`)), 'é');
    // invalid UTF-8 → U+FFFD (JSON cannot hold raw bytes)
    assert.equal(uq(String.raw`"\xff"`), '\ufffd');
    assert.equal(uq(String.raw`"a\xffb"`), 'a\ufffdb');
    assert.equal(uq(String.raw`"\xe6\x97"`), '\ufffd');
    assert.equal(unquoteGo(concat('"', raw(0xff), '"')), '\ufffd');
    // but the exact bytes are available
    assert.deepEqual(unquoteGoBytes(bytes(String.raw`"\xe6\x97"`)), raw(0xe6, 0x97));
  });

  const malformed: [string, Uint8Array, RegExp][] = [
    ['empty input', bytes(''), /double-quoted/],
    ['no quotes', bytes('abc'), /double-quoted/],
    ['single-quoted', bytes("'a'"), /double-quoted/],
    ['backquoted', bytes('`a`'), /double-quoted/],
    ['lone quote', bytes('"'), /unterminated/],
    ['unterminated', bytes('"abc'), /unterminated/],
    ['escaped closing quote', bytes(String.raw`"abc\"`), /unterminated/],
    ['backslash at end', bytes('"abc\\'), /unterminated escape/],
    ['trailing garbage', bytes('"abc"x'), /after the closing/],
    ['two strings', bytes('"a""b"'), /after the closing/],
    ['trailing newline', bytes('"abc"\n'), /after the closing/],
    ['raw newline', bytes('"a\nb"'), /raw newline/],
    ['unknown escape', bytes(String.raw`"a\qb"`), /unknown escape/],
    ['\\\' in a double-quoted string', bytes(String.raw`"\'"`), /unknown escape/],
    ['\\e', bytes(String.raw`"\e"`), /unknown escape/],
    ['short \\x', bytes(String.raw`"\x4"`), /hex digit|truncated/],
    ['bad hex', bytes(String.raw`"\xg0"`), /hex digit/],
    ['short \\u', bytes(String.raw`"\u12"`), /hex digit|truncated/],
    ['short \\U at end', bytes(String.raw`"\U0001`), /truncated/],
    ['surrogate \\u', bytes(String.raw`"\ud800"`), /surrogate/],
    ['surrogate \\U', bytes(String.raw`"\U0000dfff"`), /surrogate/],
    ['rune > 10FFFF', bytes(String.raw`"\U00110000"`), /10FFFF/],
    ['huge \\U', bytes(String.raw`"\Uffffffff"`), /10FFFF/],
    ['octal > 255', bytes(String.raw`"\400"`), /above 255/],
    ['bad octal digit', bytes(String.raw`"\08"`), /octal digit/],
    ['short octal', bytes(String.raw`"\1"`), /octal/],
  ];
  for (const [name, input, message] of malformed) {
    it(`rejects: ${name}`, () => {
      throwsGo(() => unquoteGo(input), message);
    });
  }

  it('reports the byte offset of the problem', () => {
    assert.equal(throwsGo(() => uq(String.raw`"ab\qc"`)).offset, 3);
    assert.equal(throwsGo(() => uq('"abc"xyz')).offset, 5);
    assert.equal(throwsGo(() => uq('"a\nb"')).offset, 2);
  });
});

describe('parseGoMap', () => {
  it('empty file → {}', () => {
    assert.deepEqual(parseGoMap(new Uint8Array(0)), {});
  });

  it('real kubelet labels file', () => {
    const file = 'app="web"\ncluster="test-cluster1"\npod-template-hash="5d9c7b8f4"\nrack="rack-22"\nzone="us-est-coast"';
    assert.deepEqual(parseGoMap(bytes(file)), {
      app: 'web',
      cluster: 'test-cluster1',
      'pod-template-hash': '5d9c7b8f4',
      rack: 'rack-22',
      zone: 'us-est-coast',
    });
  });

  it('real kubelet annotations file (dots, slashes, JSON, multi-line)', () => {
    const file = [
      'build="two"',
      'builder="john-doe"',
      'key1="value1"',
      String.raw`key2="multi\nline\nvalue\n"`,
      String.raw`kubectl.kubernetes.io/last-applied-configuration="{\"apiVersion\":\"v1\",\"metadata\":{\"annotations\":{\"a\":\"b=c\"}}}\n"`,
      'kubernetes.io/config.seen="2024-05-01T10:15:03.123456789Z"',
      'kubernetes.io/config.source="api"',
    ].join('\n');
    const m = parseGoMap(bytes(file));
    assert.deepEqual(Object.keys(m), [
      'build',
      'builder',
      'key1',
      'key2',
      'kubectl.kubernetes.io/last-applied-configuration',
      'kubernetes.io/config.seen',
      'kubernetes.io/config.source',
    ]);
    assert.equal(m.key2, 'multi\nline\nvalue\n');
    assert.equal(m['kubectl.kubernetes.io/last-applied-configuration'], '{"apiVersion":"v1","metadata":{"annotations":{"a":"b=c"}}}\n');
    assert.equal(m['kubernetes.io/config.source'], 'api');
  });

  it('splits at the first = only; values may contain = and "', () => {
    assert.deepEqual(parseGoMap(bytes(String.raw`k="a=b==\"c\""`)), { k: 'a=b=="c"' });
    assert.deepEqual(parseGoMap(bytes('k=""')), { k: '' });
  });

  it('__proto__ and constructor keys are own properties and do not pollute', () => {
    const m = parseGoMap(bytes('__proto__="x"\nconstructor="y"\ntoString="z"'));
    assert.ok(Object.hasOwn(m, '__proto__'));
    assert.equal(Object.getOwnPropertyDescriptor(m, '__proto__')?.value, 'x');
    assert.equal(Object.getPrototypeOf(m), Object.prototype);
    assert.deepEqual(Object.keys(m), ['__proto__', 'constructor', 'toString']);
    assert.equal(JSON.stringify(m), '{"__proto__":"x","constructor":"y","toString":"z"}');
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('tolerates one trailing newline and CRLF line ends (documented)', () => {
    assert.deepEqual(parseGoMap(bytes('a="1"\nb="2"\n')), { a: '1', b: '2' });
    assert.deepEqual(parseGoMap(bytes('a="1"\r\nb="2"\r\n')), { a: '1', b: '2' });
    assert.deepEqual(parseGoMap(bytes('\n')), {});
  });

  it('keys are UTF-8 decoded like values', () => {
    assert.deepEqual(parseGoMap(bytes('ключ="é"')), { ключ: 'é' });
  });

  const bad: [string, string, RegExp][] = [
    ['no =', 'a="1"\nbroken', /line 2: .*no '='/],
    ['empty key', '="x"', /line 1: empty key/],
    ['unquoted value', 'a=1', /line 1: value of key "a": .*double-quoted/],
    ['bad escape', 'a="1"\nb="2"\nc="\\q"', /line 3: value of key "c": unknown escape/],
    ['unterminated', 'a="1', /line 1: .*unterminated/],
    ['garbage after value', 'a="1" # comment', /line 1: .*after the closing/],
    ['empty line in the middle', 'a="1"\n\nb="2"', /line 2: empty line/],
    ['two trailing newlines', 'a="1"\n\n', /line 2: empty line/],
    ['duplicate key', 'a="1"\na="2"', /line 2: duplicate key "a"/],
  ];
  for (const [name, file, message] of bad) {
    it(`rejects: ${name}`, () => {
      throwsGo(() => parseGoMap(bytes(file)), message);
    });
  }

  it('error offsets are offsets in the whole file', () => {
    const err = throwsGo(() => parseGoMap(bytes('a="1"\nb="\\q"')));
    assert.equal(err.offset, 9);
  });

  it('stays linear on a 1 MiB file (one huge value, and many lines)', () => {
    const big = String.raw`\n\"é`.repeat(1 << 16); // 1 MiB-ish quoted value full of escapes
    const m1 = parseGoMap(bytes(`kubectl.kubernetes.io/last-applied-configuration="${big}"`));
    assert.equal(m1['kubectl.kubernetes.io/last-applied-configuration']?.length, 3 * (1 << 16));
    const lines: string[] = [];
    for (let i = 0; i < 60_000; i++) lines.push(`k${String(i).padStart(6, '0')}="v\\t${i}"`);
    const file = bytes(lines.join('\n'));
    assert.ok(file.length > 1_000_000);
    const m2 = parseGoMap(file);
    assert.equal(Object.keys(m2).length, 60_000);
    assert.equal(m2.k059999, 'v\t59999');
  });
});

describe('properties', () => {
  it('random bytes → Go %q → unquote gives back exactly the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
        const quoted = bytes(goQuoteBytes(input));
        assert.deepEqual(unquoteGoBytes(quoted), input);
        assert.equal(unquoteGo(quoted), decodeUtf8(input));
      }),
      { numRuns: 2000 },
    );
  });

  it('random byte sequences biased to UTF-8 edge cases round-trip', () => {
    const edgeByte = fc.constantFrom(0x00, 0x0a, 0x22, 0x5c, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x41);
    fc.assert(
      fc.property(fc.array(edgeByte, { maxLength: 32 }), (arr) => {
        const input = Uint8Array.from(arr);
        assert.deepEqual(unquoteGoBytes(bytes(goQuoteBytes(input))), input);
      }),
      { numRuns: 2000 },
    );
  });

  it('random unicode strings → Go %q → unquote gives back the string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        assert.equal(unquoteGo(bytes(goQuote(s))), s);
      }),
      { numRuns: 2000 },
    );
  });

  it('random maps → FormatMap file → parseGoMap gives back the map', () => {
    const key = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((k) => !/[=\n]/.test(k)),
      fc.constantFrom('__proto__', 'constructor', 'app.kubernetes.io/name', 'hasOwnProperty'),
    );
    const entries = fc.uniqueArray(fc.tuple(key, fc.string({ unit: 'binary', maxLength: 40 })), {
      selector: ([k]) => k,
      maxLength: 12,
    });
    fc.assert(
      fc.property(entries, (list) => {
        const expected = Object.fromEntries(list);
        const parsed = parseGoMap(bytes(formatGoMap(expected)));
        assert.deepEqual(parsed, expected);
      }),
      { numRuns: 1000 },
    );
  });

  const fuzzByte = fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(...[...'"\\xuU01789afAFn=\n\r\'q'].map((c) => c.charCodeAt(0))),
  );

  it('fuzz: unquoteGo only returns a string or throws GoQuoteError', () => {
    fc.assert(
      fc.property(fc.array(fuzzByte, { maxLength: 40 }), fc.boolean(), (arr, quoteIt) => {
        const input = Uint8Array.from(quoteIt ? [0x22, ...arr] : arr);
        try {
          assert.equal(typeof unquoteGo(input), 'string');
        } catch (err) {
          assert.ok(err instanceof GoQuoteError, String(err));
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('fuzz: parseGoMap only returns an object or throws GoQuoteError', () => {
    fc.assert(
      fc.property(fc.array(fuzzByte, { maxLength: 60 }), (arr) => {
        try {
          const m = parseGoMap(Uint8Array.from(arr));
          assert.equal(typeof m, 'object');
          for (const v of Object.values(m)) assert.equal(typeof v, 'string');
        } catch (err) {
          assert.ok(err instanceof GoQuoteError, String(err));
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('%q printability is Go >= 1.21 (Unicode 15.0.0), not the runtime ICU', () => {
  it('the fixed table (src) and the spec encoder (runtime categories minus post-15.0 code points) agree on every code point', () => {
    const differ: string[] = [];
    for (let r = 0; r <= 0x10ffff; r++) {
      if (r >= 0xd800 && r <= 0xdfff) continue;
      if (srcIsGoPrint(r) !== specIsGoPrint(r)) differ.push(r.toString(16));
    }
    assert.deepEqual(differ.slice(0, 20), [], `${differ.length} code points differ`);
  });
  it('a letter added in Unicode 16.0 (U+1C89 CYRILLIC CAPITAL LETTER TJE) is escaped, as Go 1.21–1.25 escape it', () => {
    const tje = '\u1c89';
    assert.ok(/\p{L}/u.test(tje), 'this runtime knows U+1C89 as a letter (Unicode >= 16)');
    assert.equal(quoteGo(`a${tje}`), '"a\\u1c89"');
    assert.equal(goQuote(`a${tje}`), '"a\\u1c89"');
    assert.equal(quoteGo('é日本😀'), '"é日本😀"', 'printable Unicode 15 stays raw');
    assert.equal(quoteGo('\u00a0\u2028\u200b\ufeff\u00ad'), '"\\u00a0\\u2028\\u200b\\ufeff\\u00ad"');
  });
});
