// `podmeta` — talk to the local agent: get, watch, check. Finds it through PODMETA_LISTEN /
// PODMETA_PROBE_LISTEN (same defaults as the agent) and sends the `Metadata: true` header.
//   podmeta get [path] [--text]   print the document or one part (pod/labels, pod/name, ...)
//   podmeta watch [path]          print the snapshot, then every change, as JSON lines (resumes on drops)
//   podmeta check [--ready]       exit 0 when the agent is live (or ready), 1 otherwise (exec probes)

import { request, type IncomingMessage } from 'node:http';
import { DEFAULTS, parseListen } from './config.js';
import { BUILD } from './build-info.js';
import { SseParser } from './sse-parse.js';
import { cmdInject, INJECT_USAGE } from './inject/cli.js';

const USAGE = `usage:
  podmeta get [path] [--text]   print the document or one part (e.g. pod/labels, pod/name)
  podmeta watch [path]          print the snapshot, then each change, as JSON lines
  podmeta check [--ready]       exit 0 when the local agent is live (--ready: ready), else 1
${INJECT_USAGE}
  podmeta version
environment: PODMETA_LISTEN (default ${DEFAULTS.PODMETA_LISTEN}), PODMETA_PROBE_LISTEN (default ${DEFAULTS.PODMETA_PROBE_LISTEN})`;

function target(variable: 'PODMETA_LISTEN' | 'PODMETA_PROBE_LISTEN'): { host: string; port: number } {
  const raw = process.env[variable]?.trim() || DEFAULTS[variable];
  const a = parseListen(raw);
  if (typeof a === 'string') fail(`${variable}: ${a}`, 2);
  // an agent listening on every address is reached on loopback
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return { host, port: a.port };
}

function fail(message: string, code = 1): never {
  process.stderr.write(`podmeta: ${message}\n`);
  process.exit(code);
}

function get(variable: 'PODMETA_LISTEN' | 'PODMETA_PROBE_LISTEN', path: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  const { host, port } = target(variable);
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, headers: { Metadata: 'true', ...headers }, timeout: 10_000 }, resolve);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${host}:${port} within 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function errorMessage(body: Buffer, status: number | undefined): string {
  try {
    const e = JSON.parse(body.toString()) as { message?: string };
    return `${status}: ${e.message ?? body.toString()}`;
  } catch {
    return `${status}: ${body.toString()}`;
  }
}

function encodePath(path: string): string {
  return path
    .replace(/^\/+/, '')
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

async function cmdGet(args: string[]): Promise<void> {
  const text = args.includes('--text');
  const path = args.find((a) => !a.startsWith('--')) ?? '';
  const url = `/metadata${path ? '/' + encodePath(path) : ''}${text ? '?format=text' : ''}`;
  const res = await get('PODMETA_LISTEN', url);
  const body = await readAll(res);
  if (res.statusCode !== 200) fail(errorMessage(body, res.statusCode));
  process.stdout.write(body);
  if (process.stdout.isTTY) process.stdout.write('\n');
}

async function cmdWatch(args: string[]): Promise<void> {
  const path = args.find((a) => !a.startsWith('--'));
  const url = `/events${path ? `?path=${encodeURIComponent('/' + path.replace(/^\/+/, ''))}` : ''}`;
  let lastId = '';
  let failures = 0;
  for (;;) {
    try {
      const res = await get('PODMETA_LISTEN', url, lastId ? { 'Last-Event-ID': lastId } : {});
      if (res.statusCode !== 200) fail(errorMessage(await readAll(res), res.statusCode));
      failures = 0;
      const parser = new SseParser({
        event: ({ event, id, data }) => {
          if (id !== undefined) lastId = id;
          const payload = JSON.parse(data) as unknown;
          const out = event === 'change' ? { event, ...(payload as object) } : { event, value: payload };
          process.stdout.write(JSON.stringify(out) + '\n');
        },
      });
      res.setEncoding('utf8');
      for await (const chunk of res) parser.feed(chunk as string);
    } catch (err) {
      if (++failures > 5) fail(`cannot reach the agent: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** failures)));
  }
}

async function cmdCheck(args: string[]): Promise<void> {
  const path = args.includes('--ready') ? '/readyz' : '/livez';
  try {
    const res = await get('PODMETA_PROBE_LISTEN', path);
    const body = await readAll(res);
    if (res.statusCode === 200) {
      process.stdout.write(`${path.slice(1)}: ${body.toString().trim()}\n`);
      process.exit(0);
    }
    fail(`${path.slice(1)}: ${res.statusCode} ${body.toString().trim()}`);
  } catch (err) {
    fail(`${path.slice(1)}: ${(err as Error).message}`);
  }
}

async function run(argv: string[]): Promise<void> {
  const [cmd, ...args] = argv;
  try {
    switch (cmd) {
      case 'get':
        return await cmdGet(args);
      case 'watch':
        return await cmdWatch(args);
      case 'check':
        return await cmdCheck(args);
      case 'inject':
        return process.exit(await cmdInject(args));
      case 'version':
      case '--version':
        process.stdout.write(`podmeta ${BUILD.version} (${BUILD.revision})\n`);
        return;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE + '\n');
        return;
      default:
        fail(`unknown command ${JSON.stringify(cmd)}\n${USAGE}`, 2);
    }
  } catch (err) {
    fail(`cannot reach the agent: ${(err as Error).message}`);
  }
}

process.stdout.on('error', () => process.exit(0)); // e.g. `podmeta watch | head`
void run(process.argv.slice(2));
