// `node dist/injector.js`: the podmeta injection webhook's composition root — the only place here that reads
// process.env, handles signals and exits.
//   exit 0  — clean shutdown after SIGTERM/SIGINT
//   exit 1  — a second signal, a failed start (e.g. the port is taken), or a shutdown that overran its deadline
//   exit 2  — invalid configuration (every bad variable named in one message)

// first: its SIGUSR1 listener is installed before any other module is evaluated (src/signals.ts)
import { handleSignals, logUnhandledRejections } from './signals.js';
import { ConfigError } from './config.js';
import { createLogger } from './log.js';
import { BUILD } from './build-info.js';
import { parseInjectorConfig, type InjectorConfig } from './inject/config.js';
import { Injector } from './inject/server.js';

const SHUTDOWN_DEADLINE_MS = 4500;

async function main(): Promise<void> {
  let config: InjectorConfig;
  try {
    config = parseInjectorConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`podmeta-injector: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.logLevel, base: { component: 'injector' } });
  log.info('podmeta injector starting', { version: BUILD.version, revision: BUILD.revision, node: process.version, pid: process.pid });
  const injector = new Injector({ config, log });

  handleSignals({ log, stop: () => injector.stop(), deadlineMs: SHUTDOWN_DEADLINE_MS, name: 'the podmeta injector' });

  try {
    await injector.start();
  } catch (err) {
    log.error('cannot start', { err });
    process.stderr.write(`podmeta-injector: cannot listen on ${config.listen.host}:${config.listen.port}: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

logUnhandledRejections();

void main();
