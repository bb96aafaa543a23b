/**
 * The sessions of this router process as pg_stat_activity lists them: who is connected, since
 * when, and the statement each runs or ran last (docs/architecture.md "System catalogs"). With
 * several front-end threads (docs/architecture.md "Threads") each thread keeps its own sessions
 * and {@link SessionActivity.listAll} asks the others over a BroadcastChannel.
 */
import { BroadcastChannel, threadId } from 'node:worker_threads';
import type { ActivityInfo } from './rows.ts';

/** Longest wait (ms) for the other front-end threads' sessions. */
const PEER_TIMEOUT_MS = 500;

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
  private peers: { channel: BroadcastChannel; count: number; asked: number; waiting: Map<number, (l: ActivityInfo[]) => void> } | undefined;

  /**
   * Share sessions with `count` other front-end threads of this process over the
   * BroadcastChannel `name` (each thread calls this with the same name).
   */
  sharePeers(name: string, count: number): void {
    if (this.peers || count < 1) return;
    const channel = new BroadcastChannel(name);
    channel.unref();
    const waiting = new Map<number, (l: ActivityInfo[]) => void>();
    this.peers = { channel, count, asked: 0, waiting };
    channel.onmessage = (ev) => {
      const m = (ev as { data: { ask?: [number, number]; answer?: [number, number, ActivityInfo[]] } }).data;
      if (m.ask) channel.postMessage({ answer: [m.ask[0], m.ask[1], this.list()] });
      else if (m.answer && m.answer[0] === threadId) waiting.get(m.answer[1])?.(m.answer[2]);
    };
  }

  /** Every live session of every front-end thread (a thread that does not answer in time is left out). */
  async listAll(): Promise<ActivityInfo[]> {
    const own = this.list();
    const p = this.peers;
    if (!p) return own;
    const id = ++p.asked;
    const lists: ActivityInfo[][] = [own];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, PEER_TIMEOUT_MS);
      function done(): void {
        clearTimeout(timer);
        p?.waiting.delete(id);
        resolve();
      }
      p.waiting.set(id, (l) => {
        lists.push(l);
        if (lists.length > p.count) done();
      });
      p.channel.postMessage({ ask: [threadId, id] });
    });
    return lists.flat().sort((a, b) => a.pid - b.pid);
  }

  /**
   * Register a new session; returns its backend pid as pg_stat_activity and pg_backend_pid()
   * report it (unique in this process).
   */
  open(session: object, user: string, applicationName: () => string): number {
    // Unique in the process: its pid, the front-end thread, a counter.
    const pid = ((process.pid % 10_000) * 100 + (threadId % 100)) * 1000 + (this.nextPid++ % 1000);
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
