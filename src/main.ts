// The agent's entry point: reads process.env (as do the other entry points, injector.ts and cli.ts; nothing
// else does — test/layout.test.ts), installs the signal policy (signals.ts), starts the Agent, and exits:
//   exit 0  — clean shutdown after SIGTERM/SIGINT (within 5 s)
//   exit 1  — a second signal, a failed start, or a shutdown that overran its deadline
//   exit 2  — invalid configuration (every bad variable named in one message), or a listen address that
//             cannot be used (the variable named)

// first: its SIGUSR1 listener is installed before any other module is evaluated (src/signals.ts)
import { handleSignals, logUnhandledRejections } from './signals.js';
import { parseConfig, ConfigError, type Config } from './config.js';
import { createLogger } from './log.js';
import { Agent, ListenError } from './agent.js';
import { ApiConfigError } from './apiserver/index.js';
import { BUILD } from './build-info.js';

const SHUTDOWN_DEADLINE_MS = 4500;


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

  handleSignals({ log, stop: () => agent.shutdown(), deadlineMs: SHUTDOWN_DEADLINE_MS });

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

logUnhandledRejections();

void main();
