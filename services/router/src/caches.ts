/**
 * Router caches (hit rates exported as metrics):
 * - the statement cache: parsed statements keyed by SQL text, so repeated statement shapes
 *   skip parsing (prepared statements of the extended protocol are also kept per connection
 *   by the wire layer). Text is the key because a libpg-query fingerprint itself needs a parse.
 * - the query-result cache: answers of read-only analytical statements keyed by text and
 *   parameters, for `ttlMs`. Each answer records the watermark it covers; a write through this
 *   router to a table the answer read makes it unusable until an answer covering that write's
 *   commit timestamp replaces it (writes through other routers are seen after at most `ttlMs`).
 */
import { counter } from '@stratum/shared';
import { LRUCache } from 'lru-cache';
import type { StatementResult } from './pgwire/types.ts';
import { type ParsedStatement, parseSql } from './sql/parse.ts';

const mStmtHits = counter('stratum_router_statement_cache_hits_total', 'Statements served from the parse cache', []);
const mStmtMiss = counter('stratum_router_statement_cache_misses_total', 'Statements parsed', []);
const mResHits = counter('stratum_router_result_cache_hits_total', 'Analytical statements answered from the result cache', []);
const mResMiss = counter('stratum_router_result_cache_misses_total', 'Cacheable analytical statements computed', []);

/** Statements longer than this (bytes) are parsed every time (bulk INSERTs with literals would only evict useful entries). */
const MAX_CACHED_SQL = 16 * 1024;

const statements = new LRUCache<string, ParsedStatement[]>({ max: 5000 });

/**
 * Parse through the statement cache. The returned ASTs are shared: callers must not mutate them.
 * @throws StratumError 42601 as `parseSql`.
 */
export function parseCached(sql: string): ParsedStatement[] {
  if (sql.length > MAX_CACHED_SQL) {
    mStmtMiss.inc();
    return parseSql(sql);
  }
  const hit = statements.get(sql);
  if (hit) {
    mStmtHits.inc();
    return hit;
  }
  mStmtMiss.inc();
  const parsed = parseSql(sql);
  statements.set(sql, parsed);
  return parsed;
}

interface CachedResult {
  result: StatementResult;
  tables: string[];
  /** Every commit with a timestamp at or below this (ms) is in the answer (the watermark before it ran). */
  coveredTs: number;
}

/** The query-result cache of one router. */
export class ResultCache {
  private readonly entries: LRUCache<string, CachedResult>;
  private readonly byTable = new Map<string, Set<string>>();
  /** Highest commit timestamp (ms) written through this router, per table. */
  private readonly lastWrite = new Map<string, number>();

  /** @param ttlMs lifetime of an answer (ms); 0 disables the cache. */
  constructor(readonly ttlMs: number) {
    this.entries = new LRUCache<string, CachedResult>({
      max: 1000,
      ttl: Math.max(1, ttlMs),
      dispose: (v, k) => {
        for (const t of v.tables) this.byTable.get(t)?.delete(k);
      },
    });
  }

  private key(sql: string, params: readonly (string | null)[]): string {
    return `${sql}\u0000${JSON.stringify(params)}`;
  }

  /**
   * A cached answer that includes every commit up to `mustCover` (ms; the session's own last
   * commit, for read-your-writes), or undefined (counted as a miss).
   */
  get(sql: string, params: readonly (string | null)[], mustCover: number): StatementResult | undefined {
    if (this.ttlMs <= 0) return undefined;
    const e = this.entries.get(this.key(sql, params));
    if (e && e.coveredTs >= mustCover && e.tables.every((t) => e.coveredTs >= (this.lastWrite.get(t) ?? -1))) {
      mResHits.inc();
      return e.result;
    }
    mResMiss.inc();
    return undefined;
  }

  /** Remember an answer that read `tables` and includes every commit up to `coveredTs` (ms). */
  set(sql: string, params: readonly (string | null)[], tables: string[], coveredTs: number, result: StatementResult): void {
    if (this.ttlMs <= 0) return;
    const k = this.key(sql, params);
    this.entries.set(k, { result, tables, coveredTs });
    for (const t of tables) {
      let s = this.byTable.get(t);
      if (!s) this.byTable.set(t, (s = new Set()));
      s.add(k);
    }
  }

  /** A write to `table` committed at `commitTs` (ms): answers that do not cover it are no longer served. */
  noteWrite(table: string, commitTs: number): void {
    if (commitTs > (this.lastWrite.get(table) ?? -1)) this.lastWrite.set(table, commitTs);
    this.invalidate(table);
  }

  /** Drop every answer that read `table`. */
  invalidate(table: string): void {
    const keys = this.byTable.get(table);
    if (!keys) return;
    for (const k of [...keys]) this.entries.delete(k);
    this.byTable.delete(table);
  }
}
