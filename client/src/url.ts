// Where the agent is: the `url` option, else PODMETA_URL, else `http://` + PODMETA_LISTEN, else
// http://127.0.0.1:9977. An agent listening on every address (0.0.0.0, ::) is reached on loopback.

export const DEFAULT_URL = 'http://127.0.0.1:9977';

type Env = Readonly<Record<string, string | undefined>>;

function fromListen(listen: string): string {
  const m = /^(?:\[([^\]]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(listen);
  if (!m) throw new TypeError(`PODMETA_LISTEN: expected host:port or [ipv6]:port, got ${JSON.stringify(listen)}`);
  let host = m[1] ?? m[2] ?? '';
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${m[3]}`;
}

/** The agent's base URL (no trailing slash). Throws a TypeError for a malformed value. */
export function resolveBaseUrl(url: string | undefined, env: Env = process.env): string {
  const raw = url?.trim() || env.PODMETA_URL?.trim() || (env.PODMETA_LISTEN?.trim() ? fromListen(env.PODMETA_LISTEN.trim()) : DEFAULT_URL);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new TypeError(`podmeta URL: not a URL: ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:') throw new TypeError(`podmeta URL: only http:// is supported (the agent listens on loopback), got ${u.protocol}`);
  return u.href.replace(/\/+$/, '');
}
