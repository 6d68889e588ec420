// ETags: a 64-bit content hash in plain JavaScript plus the byte length, so an idle agent never loads
// node:crypto (≈ 2.2 MB RSS on Node 24; BENCHMARKS.md "Levers").
//
// An ETag here is a change detector, not an integrity check: equal bytes give equal tags (also across restarts),
// and different bytes give different tags except with a chance of about 2^-64 for bytes of the same length
// (different lengths never share a tag). Two lanes of a multiply–xor hash (each step a bijection of the lane
// state, so two inputs of one length that differ in a single byte never collide), mixed at the end so every
// output bit depends on both lanes. Someone able to write the pod's labels could in principle search for a
// collision; what that buys them (a 304 or a long-poll that does not wake for one of their own changes) is less
// than what writing the labels already gives.

/** 16 hex digits (64 bits) of `bytes`. */
export function contentHash(bytes: Uint8Array): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    h1 = Math.imul(h1 ^ b, 0x9e3779b1);
    h2 = Math.imul(h2 ^ b, 0x5f356495);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b) ^ Math.imul(h2 ^ (h2 >>> 13), 0xc2b2ae35);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 0x85ebca6b) ^ Math.imul(h1 ^ (h1 >>> 13), 0xc2b2ae35);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x27d4eb2f) ^ h2;
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

/** The strong ETag of some bytes: `"<hash>-<length in base 36>"`. */
export function etagOf(bytes: Uint8Array | string): string {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return `"${contentHash(b)}-${b.length.toString(36)}"`;
}
