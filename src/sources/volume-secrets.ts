// Which unrecognised volume files are never served under `files`: a projected volume can hold the
// service-account token and CA next to downward items. The rule, kept simple and explicit:
//   1. by name (the last path segment, any case): `token`, `ca.crt`, or a name ending in `.key`, `.pem`,
//      `.crt`, `.p12`, `.pfx`, `.jwt`;
//   2. by content: anything containing a PEM armour line (`-----BEGIN `: private keys, certificates), or
//      whose whole content (surrounding whitespace aside) is a JWT (three base64url segments, the first
//      decoding to a JSON object with an `alg`).
// Recognised items (pod fields, labels, annotations, resources) are never withheld: they are not secrets.

const SECRET_NAME = /^(?:token|ca\.crt)$|\.(?:key|pem|crt|p12|pfx|jwt)$/i;
const PEM = Buffer.from('-----BEGIN ');
const JWT = /^[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/;

function looksLikeJwt(content: Uint8Array): boolean {
  if (content.length > 64 * 1024) return false;
  const text = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('latin1').trim();
  if (!JWT.test(text)) return false;
  try {
    const header = JSON.parse(Buffer.from(text.slice(0, text.indexOf('.')), 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && 'alg' in header;
  } catch {
    return false;
  }
}

/** Why a file must not be served (a short reason for /status), or undefined when it may be. */
export function withheldReason(relPath: string, content: Uint8Array): string | undefined {
  const name = relPath.slice(relPath.lastIndexOf('/') + 1);
  if (SECRET_NAME.test(name)) return 'its name is one of a credential (token, ca.crt, *.key, *.pem, *.crt, …)';
  if (Buffer.from(content.buffer, content.byteOffset, content.byteLength).includes(PEM)) return 'it holds a PEM block (key or certificate)';
  if (looksLikeJwt(content)) return 'it holds a JWT (a token)';
  return undefined;
}
