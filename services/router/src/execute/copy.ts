/**
 * COPY … FROM STDIN / TO STDOUT (PostgreSQL 15 COPY): rows stream through the wire protocol's
 * COPY sub-protocol (pgwire/), are parsed by the text, CSV and binary formats (copy/), converted
 * with each column type's input function, and written through the INSERT path in batches.
 *
 * Atomicity: inside a transaction block every batch joins the block. Outside one, batches commit
 * as they fill (a COPY of millions of rows cannot be one transaction of the TX engine), and a
 * COPY that fails afterwards deletes the rows of its earlier batches again before the error is
 * returned, so nothing of a failed COPY stays stored; other sessions may see those rows while
 * the COPY runs (docs/sql.md "COPY").
 *
 * Backpressure: outside a block, a batch is written only while at most
 * `router.copy_max_unmerged_rows` of the COPY's committed rows are above the ingestion watermark
 * (./backpressure.ts), so the pipeline keeps pace and the rows are readable analytically soon
 * after `COPY n`.
 */
import {
  type ColumnDef,
  coerceLiteral,
  counter,
  fieldOf,
  pgTypeOid,
  type Row,
  StratumError,
  type TableInfo,
  type Value,
  WatermarkWatcher,
  type WriteOp,
} from '@stratum/shared';
import { createCopyInSink, createCopyOutSource } from '../copy/stream.ts';
import type { CopyInSink, CopyOutSource, Notice } from '../pgwire/types.ts';
import type { CopyPlan } from '../plan/types.ts';
import { defaultOf } from '../plan/write.ts';
import type { RouterSession } from '../session.ts';
import { PipelineBackpressure } from './backpressure.ts';
import { evaluateAsync, type Params } from './bind.ts';
import { formatOptions, runRead } from './read.ts';
import { write } from './write.ts';

const mCopied = counter('stratum_router_copy_rows_total', 'Rows received by COPY FROM STDIN', []);

/** Rows per INSERT batch of a COPY. */
const BATCH_ROWS = 5000;

/** Run a COPY plan: a sink for COPY FROM STDIN, a source for COPY TO STDOUT. */
export async function runCopy(s: RouterSession, plan: CopyPlan, params: Params): Promise<CopyInSink | CopyOutSource> {
  if (plan.direction === 'to') return copyOut(s, plan, params);
  return copyIn(s, plan);
}

async function copyOut(s: RouterSession, plan: CopyPlan, params: Params): Promise<CopyOutSource> {
  const res = await runRead(s, plan.read as NonNullable<CopyPlan['read']>, params);
  const opts = formatOptions(s);
  const { formatValue } = await import('@stratum/shared');
  const types = res.columns.map((c) => c.type);
  const rows = res.rows.map((r) => r.map((v, i) => formatValue(v, types[i] ?? 'text', opts)));
  const settings = {
    dateStyle: opts?.dateStyle ?? 'ISO, MDY',
    timeZone: opts?.timeZone ?? 'UTC',
    intervalStyle: opts?.intervalStyle ?? 'postgres',
  };
  return createCopyOutSource(
    { columns: res.columns.map((c) => ({ name: c.name, typeOid: pgTypeOid(c.type) })), options: plan.options, settings },
    rows,
    res.notices.length ? { notices: res.notices } : {},
  );
}

async function copyIn(s: RouterSession, plan: CopyPlan): Promise<CopyInSink> {
  const t = s.catalog.get(plan.table as string);
  if (s.asOfMs !== undefined) {
    throw new StratumError('25006', 'cannot COPY into a table while stratum.as_of is set', { hint: 'RESET stratum.as_of to write.' });
  }
  const cols = plan.columns;
  const fields = cols.map(fieldOf);
  const defaults = t.columns.filter((c) => !c.hidden && !cols.includes(c) && (c.default || c.identity));
  const columns = [...fields, ...defaults.map(fieldOf)];
  const inBlock = s.txn !== undefined;
  /** Storage keys (or returned rows, for `_rowid` tables) of batches already committed: deleted again if the COPY fails. */
  const committed: Value[][] = [];
  let total = 0;
  let pending: Value[][] = [];
  const ctx = s.evalContext();
  const claim = (seq: string) => s.ctx.sequences.claim(seq);
  const keyIdx = t.primaryKey.map((k) => columns.indexOf(k));
  // Inside a block nothing commits before COMMIT, so there is nothing to wait for.
  const pace = new PipelineBackpressure(
    inBlock
      ? []
      : [
          { name: 'ingestion watermark', watermark: s.ctx.watermarks, maxRows: s.ctx.copyMaxUnmergedRows },
          {
            name: 'OLAP watermark',
            watermark: new WatermarkWatcher(() => s.ctx.olap.olapWatermark(t.storage), 20),
            maxRows: s.ctx.copyMaxUnpushedRows,
          },
        ],
  );

  const flush = async () => {
    if (pending.length === 0) return;
    const rows = pending;
    pending = [];
    await pace.admit();
    const op: WriteOp = { kind: 'insert', table: t.storage, columns, rows };
    if (!inBlock && t.rowid) op.returning = true;
    const keys = keyIdx.every((i) => i >= 0) ? rows.map((r) => keyIdx.map((i) => r[i] ?? null)) : [];
    const r = await write(s, t, [op], keys);
    total += r.counts[0] ?? 0;
    pace.committed(r.commitTs, r.counts[0] ?? 0);
    if (!inBlock) {
      if (t.rowid) for (const row of r.rows?.[0] ?? []) committed.push([(row as Row)._rowid ?? null]);
      else for (const k of keys) committed.push(k);
    }
  };

  const undo = async () => {
    if (inBlock || committed.length === 0) return;
    for (let i = 0; i < committed.length; i += BATCH_ROWS) {
      const keys = committed.slice(i, i + BATCH_ROWS);
      await write(s, t, [{ kind: 'delete', table: t.storage, source: { by: 'key', keys } }], keys).catch(() => {});
    }
    committed.length = 0;
  };

  return createCopyInSink(
    {
      table: t.name,
      columns: cols.map((c) => ({ name: c.name, typeOid: pgTypeOid(c.type) })),
      options: plan.options,
      convert: cols.map((c) => converter(c, s)),
    },
    {
      rows: async (batch) => {
        mCopied.inc(batch.length);
        for (const row of batch) {
          const values = [...row.values] as Value[];
          for (const d of defaults) values.push(await evaluateAsync(defaultOf(d), { row: {} }, ctx, claim));
          pending.push(values);
          if (pending.length >= BATCH_ROWS) await flush();
        }
      },
      commit: async () => {
        try {
          await flush();
          await s.sequences.flush();
        } catch (e) {
          await undo();
          throw e;
        }
        return total;
      },
      notices: () => stallNotice(t.name, pace),
      abort: async () => {
        pending = [];
        await undo();
        if (s.txn) s.txn.failed = true;
      },
    },
  );
}

/** The NOTICEs of a COPY that stopped waiting for a pipeline stage (none when it never had to). */
function stallNotice(table: string, pace: PipelineBackpressure): Notice[] {
  return pace.stalls.map((st) => ({
    severity: 'NOTICE',
    code: '00000',
    message: `COPY into "${table}" stopped waiting for the change pipeline: the ${st.stage} did not advance for ${st.stalledMs} ms with ${st.unmergedRows} of its rows above it`,
    detail: 'The rows are committed; analytical reads include them once the pipeline has caught up.',
    hint: 'Is the bus, an ingestion engine or an OLAP shard down? See GET /status.',
  }));
}

/** The column type's input function for COPY text values, in the session's DateStyle and TimeZone (the typmod applies: 22001 …). */
function converter(c: ColumnDef, s: RouterSession): (text: string | null) => Value {
  const ctx = { timeZone: s.settings.timezone ?? 'UTC', dateStyle: s.settings.datestyle ?? 'ISO, MDY' };
  return (text) => (text === null ? null : coerceLiteral(text, c.type, ctx, c.typmod));
}

export type { TableInfo };
