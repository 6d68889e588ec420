// Process signals, one policy for every entry point (the agent, the injector) — and unhandled rejections:
// logged as one JSON line, the process keeps running (Node's default would exit with no drain).
//   SIGTERM, SIGINT   graceful stop; a shutdown that overruns `deadlineMs` exits 1; a second signal exits 1 at once
//   SIGHUP, SIGUSR2   logged and ignored (nothing to reload; their default action would kill with no drain)
//   SIGUSR1           logged and ignored: Node would open its inspector on 127.0.0.1:9229, reachable by every
//                     container of the pod (a debugger is code execution). The listener is installed when this
//                     module is first imported — before anything is awaited — and images also run node with
//                     --disable-sigusr1.

import type { Logger } from './log.js';

let onInspectorSignal = (): void => {};
process.on('SIGUSR1', () => onInspectorSignal());

export interface SignalOptions {
  log: Logger;
  /** the graceful stop; resolves when done */
  stop: () => Promise<void>;
  deadlineMs: number;
  /** who to stop, for the hint of the ignored signals */
  name?: string;
}

export function handleSignals({ log, stop, deadlineMs, name = 'podmeta' }: SignalOptions): void {
  let signals = 0;
  const onStop = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    log.info('shutting down', { signal });
    setTimeout(() => {
      log.error('shutdown deadline exceeded', { deadlineMs });
      process.exit(1);
    }, deadlineMs).unref();
    stop().then(
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
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  for (const signal of ['SIGHUP', 'SIGUSR2'] as const) process.on(signal, () => log.warn(`${signal} ignored`, { signal, hint: `send SIGTERM to stop ${name}` }));
  onInspectorSignal = () => log.warn(`SIGUSR1 ignored: the Node inspector is disabled in ${name}`, { signal: 'SIGUSR1' });
}

/** An unhandled rejection is logged (one JSON line on stdout, as the logger writes) and survived. */
export function logUnhandledRejections(): void {
  process.on('unhandledRejection', (reason) => {
    process.stdout.write(JSON.stringify({ level: 'error', time: new Date().toISOString(), msg: 'unhandled rejection', err: String(reason) }) + '\n');
  });
}
