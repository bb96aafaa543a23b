import type { DuckDBConnection } from '@duckdb/node-api';
import { onCancel } from '../abort.ts';

/** How often a cancelled connection is interrupted again until its work has ended (ms). */
const REPEAT_MS = 50;

/**
 * Interrupt `conn` (`DuckDBConnection.interrupt`) when `signal` aborts, and again every 50 ms
 * until the returned function is called: DuckDB forgets an interrupt that arrives between two
 * statements (verified with @duckdb/node-api 1.5), so work made of several statements would
 * otherwise run its next one in full. Call the returned function before any cleanup statement
 * (ROLLBACK, DROP) that must not be interrupted. Planning, including constant folding, is not
 * interrupted by DuckDB; the interrupt lands when execution starts.
 */
export function interruptOnCancel(conn: DuckDBConnection, signal: AbortSignal | undefined): () => void {
  let timer: NodeJS.Timeout | undefined;
  const off = onCancel(signal, () => {
    conn.interrupt();
    timer = setInterval(() => conn.interrupt(), REPEAT_MS);
  });
  return () => {
    off();
    clearInterval(timer);
  };
}
