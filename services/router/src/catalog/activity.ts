/**
 * The sessions of this router process as pg_stat_activity lists them: who is connected, since
 * when, and the statement each runs or ran last (docs/architecture.md "System catalogs").
 */
import type { ActivityInfo } from './rows.ts';

/** What the registry keeps of one session. */
interface Entry {
  pid: number;
  user: string;
  applicationName: () => string;
  backendStartMs: number;
  queryStartMs: number | null;
  stateChangeMs: number | null;
  xactStartMs: number | null;
  state: 'active' | 'idle' | 'idle in transaction';
  query: string;
}

/** Live sessions of this process. Keys are the session objects. */
export class SessionActivity {
  private readonly entries = new Map<object, Entry>();
  private nextPid = 1;

  /**
   * Register a new session; returns its backend pid as pg_stat_activity and pg_backend_pid()
   * report it (unique in this process).
   */
  open(session: object, user: string, applicationName: () => string): number {
    const pid = (process.pid % 100_000) * 1000 + (this.nextPid++ % 1000);
    this.entries.set(session, {
      pid,
      user,
      applicationName,
      backendStartMs: Date.now(),
      queryStartMs: null,
      stateChangeMs: Date.now(),
      xactStartMs: null,
      state: 'idle',
      query: '',
    });
    return pid;
  }

  /** A statement starts (`sql`: its text). */
  begin(session: object, sql: string): void {
    const e = this.entries.get(session);
    if (!e) return;
    const now = Date.now();
    e.query = sql;
    e.queryStartMs = now;
    e.stateChangeMs = now;
    e.state = 'active';
  }

  /** The statement ended; `inBlock`: a transaction block stays open. */
  end(session: object, inBlock: boolean): void {
    const e = this.entries.get(session);
    if (!e) return;
    e.stateChangeMs = Date.now();
    e.state = inBlock ? 'idle in transaction' : 'idle';
    if (!inBlock) e.xactStartMs = null;
    else e.xactStartMs ??= e.queryStartMs;
  }

  /** The session ended. */
  close(session: object): void {
    this.entries.delete(session);
  }

  /** Every live session, as pg_stat_activity rows. */
  list(): ActivityInfo[] {
    return [...this.entries.values()].map((e) => ({
      pid: e.pid,
      user: e.user,
      applicationName: e.applicationName(),
      clientAddr: null,
      clientPort: null,
      backendStartMs: e.backendStartMs,
      xactStartMs: e.xactStartMs,
      queryStartMs: e.queryStartMs,
      stateChangeMs: e.stateChangeMs,
      state: e.state,
      query: e.query,
    }));
  }
}

/** This process's sessions. */
export const SESSION_ACTIVITY = new SessionActivity();
