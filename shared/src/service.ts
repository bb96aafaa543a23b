/**
 * Service lifecycle (STYLE "Services have one lifecycle"): every service is
 * `start(...) → ServiceHandle`, whose `close()` drains then stops. `runUntilSignal` is the
 * runner used by the CLI: the first SIGINT/SIGTERM drains every handle (reverse start
 * order) and exits 0; a second signal exits at once with status 130.
 */
import type { Logger } from './log.ts';

/** A started service. */
export interface ServiceHandle {
  /** Human name for logs, e.g. "tx-engine tx1". */
  readonly name: string;
  /** Drain in-flight work, then release every resource. Idempotent. */
  close(): Promise<void>;
}

/**
 * Keep the process alive until SIGINT/SIGTERM, then close `handles` in reverse order.
 * Resolves with the exit code the caller should use (0 after a clean drain, 1 if a close failed).
 */
export function runUntilSignal(handles: ServiceHandle[], log: Logger): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ sig }, 'second signal: exiting without drain');
        process.exit(130);
      }
      stopping = true;
      log.info({ sig }, 'draining');
      void (async () => {
        let code = 0;
        for (const h of [...handles].reverse()) {
          try {
            await h.close();
          } catch (e) {
            code = 1;
            log.error({ err: e, service: h.name }, 'close failed');
          }
        }
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        resolve(code);
      })();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
