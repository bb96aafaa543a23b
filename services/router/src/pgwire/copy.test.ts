/**
 * COPY over the wire (PostgreSQL 15 §55.2.6) with real clients — psql (`COPY … FROM STDIN`,
 * `\copy`), `pg` with `pg-copy-streams` — and raw sockets (extended protocol, errors mid-COPY),
 * against an in-test session that stores rows through the copy/ adapters.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { parse } from 'libpg-query';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import {
  type CopyColumn,
  copyLineWhere,
  copyOptionInputs,
  createCopyInSink,
  createCopyOutSource,
  resolveCopyOptions,
} from '../copy/index.ts';
import { PgError } from './errors.ts';
import { type PgWireServer, startPgWireServer } from './server.ts';
import { B as bind, cstr, cstrOf, E, errorFields, frame, i32, P, Q, Raw, S, startupPacket, textRow, types } from './test-support.ts';
import type { CopyInSink, CopyOutSource, PgBackend, PgSession, PreparedInfo, SessionStartup, StatementResult, TxStatus } from './types.ts';

// ------------------------------------------------------------------ session double

interface Table {
  columns: CopyColumn[];
  notNull: Set<string>;
  rows: (string | null)[][];
}

interface Handle {
  kind: 'copy-from' | 'copy-to' | 'count' | 'one' | 'begin' | 'commit';
  // biome-ignore lint/suspicious/noExplicitAny: libpg-query JSON
  stmt?: any;
  table?: string;
}

const INT_RE = /^\s*[+-]?\d+\s*$/;

// biome-ignore lint/suspicious/noExplicitAny: libpg-query JSON
type RawStmt = { stmt_location?: number; stmt_len?: number; stmt?: any };

async function parseStatements(sql: string): Promise<RawStmt[]> {
  try {
    return ((await parse(sql)).stmts ?? []) as RawStmt[];
  } catch (e) {
    throw new PgError('42601', (e as Error).message);
  }
}

/** Converter per column type: the type's text input function, as the SQL layer's `coerceLiteral` would be. */
function converter(c: CopyColumn): (text: string | null) => string | null {
  if (c.typeOid !== 23) return (t) => t;
  return (t) => {
    if (t === null) return null;
    if (!INT_RE.test(t)) throw new PgError('22P02', `invalid input syntax for type integer: "${t}"`);
    const n = Number(t);
    if (n > 2147483647 || n < -2147483648) throw new PgError('22003', `value "${t}" is out of range for type integer`);
    return String(n);
  };
}

class CopySession implements PgSession {
  tx: TxStatus = 'I';
  aborts: string[] = [];
  closes = 0;
  constructor(
    readonly startup: SessionStartup,
    readonly tables: Map<string, Table>,
    /** Delay each batch (exercises input backpressure). */
    readonly slow = false,
  ) {}

  async splitSimpleQuery(sql: string): Promise<PreparedInfo[]> {
    const bytes = Buffer.from(sql);
    const stmts = await parseStatements(sql);
    return Promise.all(
      stmts.map((s) => {
        const start = s.stmt_location ?? 0;
        return this.prepare(bytes.toString('utf8', start, s.stmt_len ? start + s.stmt_len : undefined));
      }),
    );
  }

  async prepare(sql: string): Promise<PreparedInfo> {
    const lower = sql.trim().toLowerCase();
    if (lower === 'select 1') return { paramTypeOids: [], fields: [{ name: '?column?', typeOid: 23 }], handle: { kind: 'one' } };
    if (lower === 'begin' || lower === 'commit') return { paramTypeOids: [], fields: null, handle: { kind: lower } };
    const count = /^select count\(\*\) from (\w+)$/.exec(lower);
    if (count) return { paramTypeOids: [], fields: [{ name: 'count', typeOid: 20 }], handle: { kind: 'count', table: count[1] } };
    const stmt = (await parseStatements(sql))[0]?.stmt?.CopyStmt;
    if (!stmt) throw new PgError('42601', `unsupported statement: ${sql}`);
    return { paramTypeOids: [], fields: null, handle: { kind: stmt.is_from ? 'copy-from' : 'copy-to', stmt } };
  }

  async execute(info: PreparedInfo): Promise<StatementResult | CopyInSink | CopyOutSource> {
    const h = info.handle as Handle;
    if (h.kind === 'one') return { commandTag: 'SELECT 1', fields: [{ name: '?column?', typeOid: 23 }], rows: [['1']] };
    if (h.kind === 'begin' || h.kind === 'commit') {
      this.tx = h.kind === 'begin' ? 'T' : 'I';
      return { commandTag: h.kind.toUpperCase() };
    }
    if (h.kind === 'count') {
      const t = this.table(h.table as string);
      return { commandTag: 'SELECT 1', fields: [{ name: 'count', typeOid: 20 }], rows: [[String(t.rows.length)]] };
    }
    const name = h.stmt.relation.relname as string;
    const table = this.table(name);
    const names: string[] = h.stmt.attlist
      ? h.stmt.attlist.map((a: { String: { sval: string } }) => a.String.sval)
      : table.columns.map((c) => c.name);
    const columns = names.map((n) => {
      const c = table.columns.find((x) => x.name === n);
      if (!c) throw new PgError('42703', `column "${n}" of relation "${name}" does not exist`);
      return c;
    });
    const options = resolveCopyOptions(copyOptionInputs(h.stmt.options), {
      from: h.kind === 'copy-from',
      columns: names,
      allColumns: table.columns.map((c) => c.name),
      relation: name,
    });
    if (h.kind === 'copy-to') {
      const idx = names.map((n) => table.columns.findIndex((c) => c.name === n));
      return createCopyOutSource(
        { columns, options },
        table.rows.map((r) => idx.map((i) => r[i] ?? null)),
      );
    }
    const staged: (string | null)[][] = [];
    return createCopyInSink(
      { table: name, columns, options, convert: columns.map(converter) },
      {
        rows: async (batch) => {
          if (this.slow) await new Promise((r) => setImmediate(r));
          for (const row of batch) {
            const full = table.columns.map((c) => {
              const i = names.indexOf(c.name);
              return i < 0 ? null : (row.values[i] ?? null);
            });
            table.columns.forEach((c, i) => {
              if (full[i] === null && table.notNull.has(c.name)) {
                throw new PgError('23502', `null value in column "${c.name}" of relation "${name}" violates not-null constraint`, {
                  detail: `Failing row contains (${full.map((v) => v ?? 'null').join(', ')}).`,
                  where: copyLineWhere(name, row),
                });
              }
            });
            staged.push(full);
          }
        },
        commit: async () => {
          table.rows.push(...staged);
          return undefined;
        },
        abort: async (reason) => {
          this.aborts.push(reason);
          staged.length = 0;
        },
      },
    );
  }

  private table(name: string): Table {
    const t = this.tables.get(name);
    if (!t) throw new PgError('42P01', `relation "${name}" does not exist`);
    return t;
  }

  txStatus(): TxStatus {
    return this.tx;
  }
  cancel(): void {}
  async close(): Promise<void> {
    this.closes++;
  }
}

const tables = new Map<string, Table>();
const sessions: CopySession[] = [];
const reset = (name: string, columns: [string, number][], notNull: string[] = []): Table => {
  const t: Table = { columns: columns.map(([n, typeOid]) => ({ name: n, typeOid })), notNull: new Set(notNull), rows: [] };
  tables.set(name, t);
  return t;
};

let server: PgWireServer;
const backend: PgBackend = {
  async openSession(startup) {
    const s = new CopySession(startup, tables, startup.database === 'slow');
    sessions.push(s);
    return s;
  },
};

before(async () => {
  server = await startPgWireServer({ host: '127.0.0.1', port: 0, backend, auth: { method: 'trust' } });
});
after(async () => {
  await server.close();
  for (const s of sessions) assert.equal(s.closes, 1);
});

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, database = 'db'): Promise<T> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'tester', database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function psql(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/psql', [`host=127.0.0.1 port=${server.port} user=u dbname=d sslmode=disable`, '-X', ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    p.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    p.stdin.end(input);
  });
}

/** Write `data` into a COPY FROM stream in chunks of `size` bytes. */
async function copyIn(c: pg.Client, sql: string, data: Buffer | string, size = 7): Promise<void> {
  const buf = Buffer.from(data);
  const chunks: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) chunks.push(buf.subarray(i, i + size));
  await pipeline(Readable.from(chunks), c.query(copyFrom(sql)));
}

async function copyOut(c: pg.Client, sql: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    c.query(copyTo(sql)),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        parts.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(parts);
}

const pgError = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string; where?: string; detail?: string };
  }
  assert.fail('expected an error');
};

// ------------------------------------------------------------------ psql

describe('psql', () => {
  test('COPY … FROM STDIN (text) and \\copy to a file', async () => {
    const t = reset('items', [
      ['id', 23],
      ['name', 25],
    ]);
    const r = await psql(['-c', 'COPY items FROM STDIN'], '1\twidget\n2\t\\N\n3\ttab\\there ünï\n\\.\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'COPY 3');
    assert.deepEqual(t.rows, [
      ['1', 'widget'],
      ['2', null],
      ['3', 'tab\there ünï'],
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'copy-test-'));
    try {
      const out = join(dir, 'out.csv');
      const w = await psql(['-c', `\\copy items to '${out}' with (format csv, header)`]);
      assert.equal(w.code, 0, w.stderr);
      assert.equal(w.stdout.trim(), 'COPY 3');
      assert.equal(await readFile(out, 'utf8'), 'id,name\n1,widget\n2,\n3,tab\there ünï\n');
      const txt = join(dir, 'out.txt');
      assert.equal((await psql(['-c', `\\copy items (name) to '${txt}'`])).code, 0);
      assert.equal(await readFile(txt, 'utf8'), 'widget\n\\N\ntab\\there ünï\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('\\copy from a CSV file with HEADER, DELIMITER, NULL and QUOTE', async () => {
    const t = reset('people', [
      ['id', 23],
      ['name', 25],
      ['note', 25],
    ]);
    const dir = await mkdtemp(join(tmpdir(), 'copy-test-'));
    try {
      const file = join(dir, 'in.csv');
      await writeFile(file, "id;name;note\n1;'Ann; the first';NA\n2;'multi\nline';''\n3;NA;'it''s'\n");
      const r = await psql(['-c', `\\copy people from '${file}' with (format csv, header, delimiter ';', null 'NA', quote '''')`]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'COPY 3');
      assert.deepEqual(t.rows, [
        ['1', 'Ann; the first', null],
        ['2', 'multi\nline', ''],
        ['3', null, "it's"],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a bad row reports SQLSTATE, line and column; nothing is stored', async () => {
    const t = reset('nums', [
      ['a', 23],
      ['b', 25],
    ]);
    const r = await psql(['-v', 'VERBOSITY=verbose', '-c', 'COPY nums FROM STDIN'], '1\tx\nzz\ty\n3\tz\n\\.\n');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERROR: {2}22P02: invalid input syntax for type integer: "zz"\nCONTEXT: {2}COPY nums, line 2, column a: "zz"/);
    assert.deepEqual(t.rows, []);
    const missing = await psql(['-c', 'COPY nums FROM STDIN (FORMAT csv)'], '1,x\n2\n');
    assert.match(missing.stderr, /ERROR: {2}missing data for column "b"\nCONTEXT: {2}COPY nums, line 2: "2"/);
    assert.deepEqual(t.rows, []);
  });
});

// ------------------------------------------------------------------ pg + pg-copy-streams

describe('pg-copy-streams', () => {
  test('COPY FROM in small chunks, then COPY TO in text, csv and binary', async () => {
    const t = reset('kv', [
      ['k', 23],
      ['v', 25],
    ]);
    await withClient(async (c) => {
      await copyIn(c, 'COPY kv FROM STDIN (FORMAT csv, HEADER match)', 'k,v\n1,"é,😀"\n2,\n3,""\n4,"a\r\nb"\n', 3);
      assert.deepEqual(t.rows, [
        ['1', 'é,😀'],
        ['2', null],
        ['3', ''],
        ['4', 'a\r\nb'],
      ]);
      assert.equal((await copyOut(c, 'COPY kv TO STDOUT')).toString(), '1\té,😀\n2\t\\N\n3\t\n4\ta\\r\\nb\n');
      assert.equal((await copyOut(c, 'COPY kv (v) TO STDOUT (FORMAT csv, FORCE_QUOTE *)')).toString(), '"é,😀"\n\n""\n"a\r\nb"\n');
      const bin = await copyOut(c, 'COPY kv TO STDOUT (FORMAT binary)');
      assert.equal(bin.subarray(0, 11).toString('latin1'), 'PGCOPY\n\xff\r\n\0');
      const t2 = reset('kv2', [
        ['k', 23],
        ['v', 25],
      ]);
      await copyIn(c, 'COPY kv2 FROM STDIN (FORMAT binary)', bin, 5);
      assert.deepEqual(t2.rows, t.rows);
      assert.deepEqual((await c.query('select count(*) from kv2')).rows, [{ count: '4' }]);
    });
  });

  test('CopyFail from the client: 57014, nothing stored, connection usable', async () => {
    const t = reset('cf', [['a', 23]]);
    await withClient(async (c) => {
      const stream = c.query(copyFrom('COPY cf FROM STDIN'));
      const done = new Promise<Error>((resolve) => stream.on('error', resolve));
      stream.write('1\n2\n');
      stream.destroy(new Error('client gave up'));
      const err = (await done) as Error & { code?: string };
      assert.equal(err.code, '57014');
      assert.equal(err.message, 'COPY from stdin failed: client gave up');
      assert.deepEqual(t.rows, []);
      assert.deepEqual((await c.query('SELECT 1')).rows, [{ '?column?': 1 }]);
      assert.equal(sessions.at(-1)?.aborts.at(-1), 'client gave up');
    });
  });

  test('malformed data: 22P04 with CONTEXT; the rest is discarded and the connection stays usable', async () => {
    const t = reset('bad', [
      ['a', 23],
      ['b', 25],
    ]);
    await withClient(async (c) => {
      const lines = Array.from({ length: 2000 }, (_, i) => (i === 3 ? '4\tx\textra\n' : `${i + 1}\tx\n`)).join('');
      const err = await pgError(copyIn(c, 'COPY bad FROM STDIN', lines, 100));
      assert.equal(err.code, '22P04');
      assert.equal(err.message, 'extra data after last expected column');
      assert.equal(err.where, 'COPY bad, line 4: "4\tx\textra"');
      assert.deepEqual(t.rows, []);
      const nn = reset(
        'nn',
        [
          ['a', 23],
          ['b', 25],
        ],
        ['a'],
      );
      const notNull = await pgError(copyIn(c, 'COPY nn FROM STDIN', '1\tx\n\\N\ty\n'));
      assert.equal(notNull.code, '23502');
      assert.equal(notNull.where, 'COPY nn, line 2: "\\N\ty"');
      assert.deepEqual(nn.rows, []);
      await copyIn(c, 'COPY bad FROM STDIN', '1\tok\n');
      assert.deepEqual(t.rows, [['1', 'ok']]);
      assert.deepEqual((await c.query('SELECT 1')).rows, [{ '?column?': 1 }]);
    });
  });

  test('large COPY FROM and COPY TO stream with backpressure', async () => {
    const t = reset('big', [
      ['id', 23],
      ['payload', 25],
    ]);
    const n = 50_000;
    const payload = 'x'.repeat(100);
    const data = Array.from({ length: n }, (_, i) => `${i},${payload}\n`).join('');
    await withClient(async (c) => {
      await copyIn(c, 'COPY big FROM STDIN (FORMAT csv)', data, 64 * 1024);
      assert.equal(t.rows.length, n);
      const out = await copyOut(c, 'COPY big TO STDOUT (FORMAT csv)');
      assert.equal(out.length, Buffer.byteLength(data));
      assert.ok(out.equals(Buffer.from(data)));
    }, 'slow');
  });
});

// ------------------------------------------------------------------ raw protocol

describe('raw protocol', () => {
  const d = (s: string | Buffer) => frame('d', Buffer.from(s));
  const done = () => frame('c');
  const fail = (m: string) => frame('f', cstr(m));

  test('simple Query: CopyInResponse, then the rest of the query string runs after CopyDone', async () => {
    const t = reset('sq', [['a', 23]]);
    const r = await Raw.ready(server.port);
    r.send(Q('COPY sq FROM STDIN; SELECT 1'));
    const g = await r.next();
    assert.equal(g.type, 'G');
    assert.deepEqual([g.payload[0], g.payload.readInt16BE(1), g.payload.readInt16BE(3)], [0, 1, 0]);
    r.send(Buffer.concat([d('1\n2'), frame('H'), frame('S'), d('\n'), done()]));
    const msgs = await r.until('Z');
    assert.equal(types(msgs), 'CTDCZ');
    assert.equal(cstrOf(msgs[0]), 'COPY 2');
    assert.deepEqual(textRow(msgs[2]), ['1']);
    assert.deepEqual(t.rows, [['1'], ['2']]);
    r.end();
  });

  test('an unexpected message during copy-in is 08P01; CopyFail gives 57014; stray copy messages are dropped', async () => {
    reset('um', [['a', 23]]);
    const r = await Raw.ready(server.port);
    r.send(Q('COPY um FROM STDIN'));
    assert.equal((await r.next()).type, 'G');
    r.send(Q('SELECT 1'));
    let msgs = await r.until('Z');
    assert.equal(types(msgs), 'EZ');
    assert.deepEqual([errorFields(msgs[0]).C, errorFields(msgs[0]).M], ['08P01', 'unexpected message type 0x51 during COPY from stdin']);
    r.send(Buffer.concat([d('5\n'), done(), Q('COPY um FROM STDIN')]));
    assert.equal((await r.next()).type, 'G');
    r.send(fail('no more'));
    msgs = await r.until('Z');
    assert.deepEqual([errorFields(msgs[0]).C, errorFields(msgs[0]).M], ['57014', 'COPY from stdin failed: no more']);
    r.send(Q('SELECT 1'));
    assert.equal(types(await r.until('Z')), 'TDCZ');
    assert.deepEqual(tables.get('um')?.rows, []);
    r.end();
  });

  test('extended protocol: Execute of COPY FROM; Sync during copy-in is ignored; errors discard until Sync', async () => {
    const t = reset('ex', [['a', 23]]);
    const r = await Raw.ready(server.port);
    r.send(Buffer.concat([P('', 'COPY ex FROM STDIN (FORMAT csv)'), bind('', '', [], []), E(''), S()]));
    assert.equal(types([await r.next(), await r.next(), await r.next()]), '12G');
    r.send(Buffer.concat([d('7\n8\n'), done(), S()]));
    let msgs = await r.until('Z');
    assert.equal(types(msgs), 'CZ');
    assert.equal(cstrOf(msgs[0]), 'COPY 2');
    assert.deepEqual(t.rows, [['7'], ['8']]);
    // A bad row: ErrorResponse, then everything up to Sync is discarded.
    r.send(Buffer.concat([P('', 'COPY ex FROM STDIN'), bind('', '', [], []), E('')]));
    assert.equal(types([await r.next(), await r.next(), await r.next()]), '12G');
    r.send(Buffer.concat([d('9\nnope\n'), d('10\n'), done(), P('', 'SELECT 1'), S()]));
    msgs = await r.until('Z');
    assert.equal(types(msgs), 'EZ');
    assert.deepEqual([errorFields(msgs[0]).C, errorFields(msgs[0]).W], ['22P02', 'COPY ex, line 2, column a: "nope"']);
    assert.deepEqual(t.rows, [['7'], ['8']]);
    r.end();
  });

  test('extended protocol: Execute of COPY TO streams CopyOutResponse, CopyData, CopyDone, CommandComplete', async () => {
    const t = reset('out', [
      ['a', 23],
      ['b', 25],
    ]);
    t.rows.push(['1', 'x'], ['2', null]);
    const r = await Raw.ready(server.port);
    r.send(Buffer.concat([P('', 'COPY out TO STDOUT (FORMAT binary)'), bind('', '', [], []), E(''), S()]));
    const msgs = await r.until('Z');
    assert.equal(types(msgs), '12HdddcCZ');
    assert.deepEqual([msgs[2]?.payload[0], msgs[2]?.payload.readInt16BE(1)], [1, 2]);
    assert.equal(msgs[3]?.payload.subarray(0, 11).toString('latin1'), 'PGCOPY\n\xff\r\n\0');
    assert.equal(msgs[5]?.payload.toString('hex'), 'ffff');
    assert.equal(cstrOf(msgs[7]), 'COPY 2');
    r.end();
  });

  test('a CancelRequest during copy-in ends the COPY with 57014; the connection stays usable', async () => {
    reset('cx', [['a', 23]]);
    const r = await Raw.open(server.port);
    r.send(startupPacket({ user: 'raw', database: 'db' }));
    const key = (await r.until('Z')).find((m) => m.type === 'K');
    assert.ok(key);
    r.send(Q('COPY cx FROM STDIN'));
    assert.equal((await r.next()).type, 'G');
    r.send(d('1\n'));
    const c = await Raw.open(server.port);
    c.send(Buffer.concat([i32(16), i32(80877102), key.payload.subarray(0, 8)]));
    const msgs = await r.until('Z');
    assert.equal(types(msgs), 'EZ');
    assert.deepEqual([errorFields(msgs[0]).C, errorFields(msgs[0]).M], ['57014', 'canceling statement due to user request']);
    r.send(Buffer.concat([d('2\n'), done(), Q('SELECT 1')]));
    assert.equal(types(await r.until('Z')), 'TDCZ');
    assert.deepEqual(tables.get('cx')?.rows, []);
    r.end();
  });

  test('the connection closing mid-COPY aborts the sink', async () => {
    reset('gone', [['a', 23]]);
    const r = await Raw.ready(server.port);
    r.send(Q('COPY gone FROM STDIN'));
    assert.equal((await r.next()).type, 'G');
    r.send(d('1\n'));
    const session = sessions.at(-1) as CopySession;
    r.socket.destroy();
    const until = Date.now() + 5000;
    while (session.closes === 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 10));
    assert.deepEqual(session.aborts, ['connection to client lost']);
    assert.deepEqual(tables.get('gone')?.rows, []);
  });
});
