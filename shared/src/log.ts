/**
 * Structured logging (pino) to stderr. Level from `STRATUM_LOG_LEVEL` (default `info`;
 * `silent` in tests unless set).
 */
import { type Logger, pino } from 'pino';

export type { Logger };

let root: Logger | undefined;

/** The process's root logger. */
export function rootLogger(): Logger {
  if (!root) {
    const level = process.env.STRATUM_LOG_LEVEL ?? (process.env.NODE_TEST_CONTEXT ? 'silent' : 'info');
    root = pino({ level, base: { pid: process.pid } }, pino.destination(2));
  }
  return root;
}

/** A child logger for one service instance (`{ svc, id }` on every line). */
export function serviceLogger(svc: string, id: string): Logger {
  return rootLogger().child({ svc, id });
}
