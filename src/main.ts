// The composition root: the only place that reads process.env, handles signals and exits.
//   exit 0  — clean shutdown after SIGTERM/SIGINT (within 5 s)
//   exit 1  — a second signal, a failed start, or a shutdown that overran its deadline
//   exit 2  — invalid configuration (every bad variable named in one message), or a listen address that
//             cannot be used (the variable named)

import { parseConfig, ConfigError, type Config } from './config.js';
import { createLogger } from './log.js';
import { Agent, ListenError } from './agent.js';
import { ApiConfigError } from './apiserver/index.js';
import { BUILD } from './build-info.js';

const SHUTDOWN_DEADLINE_MS = 4500;

// SIGUSR1 would open the Node inspector on 127.0.0.1:9229 — reachable by every container of the pod, and a
// debugger is arbitrary code execution. A listener of our own replaces Node's (the image also runs node with
// --disable-sigusr1). Installed before anything else is loaded or awaited; logged once the logger exists.
let inspectorSignal = (): void => {};
process.on('SIGUSR1', () => inspectorSignal());

async function main(): Promise<void> {
  let config: Config;
  try {
    config = parseConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`podmeta: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel });
  log.info('podmeta starting', { version: BUILD.version, revision: BUILD.revision, node: process.version, pid: process.pid });
  const agent = new Agent({ config, env: process.env, log });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    log.info('shutting down', { signal });
    const deadline = setTimeout(() => {
      log.error('shutdown deadline exceeded', { deadlineMs: SHUTDOWN_DEADLINE_MS });
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    agent.shutdown().then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP (a terminal hang-up, `kill -HUP`) and SIGUSR2 would kill the process with no log and no drain:
  // podmeta has nothing to reload (it watches its inputs), so they are logged and ignored.
  for (const signal of ['SIGHUP', 'SIGUSR2'] as const) process.on(signal, () => log.warn(`${signal} ignored`, { signal, hint: 'send SIGTERM to stop podmeta' }));
  inspectorSignal = () => log.warn('SIGUSR1 ignored: the Node inspector is disabled in podmeta', { signal: 'SIGUSR1' });

  try {
    await agent.start();
  } catch (err) {
    if (err instanceof ListenError) {
      log.error('cannot start: cannot listen', { variable: err.variable, err: err.message });
      process.stderr.write(`podmeta: ${err.message}\n`);
      process.exit(2);
    }
    if (err instanceof ApiConfigError) {
      log.error('cannot start: API server required but not usable', { err: err.message });
      process.stderr.write(`podmeta: ${err.message}\n`);
      process.exit(2);
    }
    log.error('cannot start', { err });
    process.exit(1);
  }
}

process.on('unhandledRejection', (reason) => {
  process.stdout.write(JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: 'unhandled rejection', err: String(reason) }) + '\n');
});

void main();
