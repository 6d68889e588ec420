// JSON-lines logger: {"level","time","msg",...fields}. One line per state change, never per retry —
// callers log transitions, not attempts. Fields named like secrets are redacted as a last line of defence.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /token|authorization|password|secret/i;

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  write?: (line: string) => void;
  base?: LogFields;
  now?: () => Date;
}

function errorFields(err: Error): LogFields {
  const out: LogFields = { name: err.name, message: err.message };
  const code = (err as { code?: unknown }).code;
  if (code !== undefined) out.code = code;
  return out;
}

function replacer(key: string, value: unknown): unknown {
  if (key !== '' && SECRET_KEY.test(key) && typeof value === 'string') return '[redacted]';
  if (value instanceof Error) return errorFields(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger({
  level = 'info',
  write = (line) => process.stdout.write(line),
  base = {},
  now = () => new Date(),
}: LoggerOptions = {}): Logger {
  const min = RANK[level];
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (RANK[lvl] < min) return;
    let line: string;
    try {
      line = JSON.stringify({ level: lvl, time: now().toISOString(), msg, ...base, ...fields }, replacer);
    } catch {
      line = JSON.stringify({ level: lvl, time: now().toISOString(), msg, ...base, fieldsError: 'unserializable' });
    }
    write(line + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ level, write, base: { ...base, ...fields }, now }),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} });
