/**
 * Tests of the wire server with real clients (`pg`, `psql`) and raw sockets, against an in-test
 * PgBackend double. Run: node --import tsx --test services/router/src/pgwire/server.test.ts
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { decodeBinaryParam, encodeBinaryValue, OID } from './binary-format.ts';
import { type Frame, FrameReader } from './codec.ts';
import { type PgWireServer, startPgWireServer } from './server.ts';
import {
  B,
  C,
  cstr,
  cstrOf,
  D,
  dataRow,
  E,
  errorFields,
  frame,
  i16,
  i32,
  type Msg,
  P,
  Q,
  Raw,
  rowDescription,
  S,
  startupPacket,
  textRow,
  types,
} from './test-support.ts';
import type {
  FieldDescription,
  PgBackend,
  PgSession,
  PgWireOptions,
  PreparedInfo,
  SessionStartup,
  StatementResult,
  TxStatus,
} from './types.ts';

// ------------------------------------------------------------------ backend double

const TYPES: Record<string, number> = {
  int2: 21,
  int4: 23,
  int8: 20,
  float4: 700,
  float8: 701,
  bool: 16,
  text: 25,
  varchar: 1043,
  uuid: 2950,
  timestamp: 1114,
  timestamptz: 1184,
  date: 1082,
  bytea: 17,
  numeric: 1700,
  json: 114,
  point: 600,
};

const ITEM_FIELDS: FieldDescription[] = [
  { name: 'id', typeOid: 23 },
  { name: 'name', typeOid: 25 },
  { name: 'price', typeOid: 1700 },
  { name: 'active', typeOid: 16 },
  { name: 'created', typeOid: 1184 },
  { name: 'uid', typeOid: 2950 },
  { name: 'data', typeOid: 17 },
  { name: 'ratio', typeOid: 701 },
  { name: 'big', typeOid: 20 },
  { name: 'day', typeOid: 1082 },
];
const ITEM_ROWS: (string | null)[][] = [
  [
    '1',
    'widget',
    '12.50',
    't',
    '2024-01-02 03:04:05.123456+00',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    '\\x0102ff',
    '0.25',
    '9007199254740993',
    '2024-02-29',
  ],
  ['2', null, '-0.001', 'f', '1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000', '\\x', '-1e+100', '-1', '1999-12-31'],
];

/** Columns with type modifiers: varchar(10), numeric(10,2), int4[], interval. */
const TYPED_FIELDS: FieldDescription[] = [
  { name: 'v', typeOid: 1043, typeModifier: 14 },
  { name: 'n', typeOid: 1700, typeModifier: ((10 << 16) | 2) + 4 },
  { name: 'a', typeOid: 1007 },
  { name: 'i', typeOid: 1186 },
];

const pgErr = (code: string, message: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { code, ...extra });

interface Handle {
  kind: string;
  sql: string;
  n: number;
}

/** Minimal SQL "engine" understanding a handful of fixed statements. */
class FakeSession implements PgSession {
  tx: TxStatus = 'I';
  closes = 0;
  cancels = 0;
  private onCancel: (() => void) | null = null;

  constructor(readonly startup: SessionStartup) {}

  async splitSimpleQuery(sql: string): Promise<PreparedInfo[]> {
    const parts = sql
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean);
    return Promise.all(parts.map((p) => this.prepare(p, [])));
  }

  async prepare(sql: string, declared: number[]): Promise<PreparedInfo> {
    try {
      return this.analyse(sql, declared);
    } catch (e) {
      if (this.tx === 'T') this.tx = 'E';
      throw e;
    }
  }

  private analyse(sql: string, declared: number[]): PreparedInfo {
    const s = sql.trim();
    const oids: number[] = [];
    for (const m of s.matchAll(/\$(\d+)(?:::(\w+))?/g)) {
      const i = Number(m[1]) - 1;
      oids[i] = m[2] ? (TYPES[m[2]] ?? 0) : (oids[i] ?? declared[i] ?? 0);
    }
    const paramTypeOids = Array.from(oids, (o) => o ?? 0);
    const lower = s.toLowerCase();
    const rules: [RegExp, string, FieldDescription[] | null | undefined][] = [
      [/^select (\d+)$/, 'int', [{ name: '?column?', typeOid: 23 }]],
      [/^select \$/, 'echo', paramTypeOids.map((o, i) => ({ name: `c${i + 1}`, typeOid: o || 25 }))],
      [/^select \* from items$/, 'items', ITEM_FIELDS],
      [/^select json$/, 'json', [{ name: 'j', typeOid: 114 }]],
      [/^select point$/, 'point', [{ name: 'p', typeOid: 600 }]],
      [/^select typed$/, 'typed', TYPED_FIELDS],
      [/^generate (\d+)$/, 'generate', undefined],
      [/^select \* from missing$/, 'missing', null],
      [/^(notice|insert|begin|commit|rollback|boom|fatal|set timezone|set datestyle)$/, lower, null],
      [
        /^select german$/,
        'german',
        [
          { name: 'ts', typeOid: 1184 },
          { name: 'd', typeOid: 1082 },
          { name: 'i', typeOid: 1186 },
        ],
      ],
      [/^sleep (\d+)$/, 'sleep', null],
    ];
    for (const [re, kind, fields] of rules) {
      const m = re.exec(lower);
      if (!m) continue;
      if (kind === 'missing') throw pgErr('42P01', 'relation "missing" does not exist', { position: 15 });
      const handle: Handle = { kind, sql: s, n: Number(m[1] ?? 0) };
      return fields === undefined ? { paramTypeOids, handle } : { paramTypeOids, fields, handle };
    }
    throw pgErr('42601', `syntax error at or near "${s.split(/\s/)[0]}"`, { position: 1 });
  }

  async execute(stmt: PreparedInfo, params: (string | null)[]): Promise<StatementResult> {
    const h = stmt.handle as Handle;
    if (this.tx === 'E' && h.kind !== 'rollback') {
      throw pgErr('25P02', 'current transaction is aborted, commands ignored until end of transaction block');
    }
    try {
      return await this.run(h, params, stmt.paramTypeOids);
    } catch (e) {
      if (this.tx === 'T') this.tx = 'E';
      throw e;
    }
  }

  private async run(h: Handle, params: (string | null)[], paramTypes: number[]): Promise<StatementResult> {
    switch (h.kind) {
      case 'int':
        return { commandTag: 'SELECT 1', fields: [{ name: '?column?', typeOid: 23 }], rows: [[String(h.n)]] };
      case 'echo':
        return { commandTag: 'SELECT 1', fields: paramTypes.map((o, i) => ({ name: `c${i + 1}`, typeOid: o || 25 })), rows: [params] };
      case 'items':
        return { commandTag: 'SELECT 2', fields: ITEM_FIELDS, rows: ITEM_ROWS };
      case 'json':
        return { commandTag: 'SELECT 1', fields: [{ name: 'j', typeOid: 114 }], rows: [['{}']] };
      case 'typed':
        return { commandTag: 'SELECT 1', fields: TYPED_FIELDS, rows: [['abc', '1.50', '{1,NULL}', '1 day 02:00:00']] };
      case 'point':
        return { commandTag: 'SELECT 1', fields: [{ name: 'p', typeOid: 600 }], rows: [['(1,2)']] };
      case 'generate': {
        const rows = Array.from({ length: h.n }, (_, i) => [String(i + 1), `row number ${i + 1}`]);
        return {
          commandTag: `SELECT ${h.n}`,
          fields: [
            { name: 'i', typeOid: 23 },
            { name: 'label', typeOid: 25 },
          ],
          rows,
        };
      }
      case 'notice':
        return { commandTag: 'DO', notices: [{ severity: 'NOTICE', code: '00000', message: 'hello from notice', detail: 'some detail' }] };
      case 'set datestyle':
        return { commandTag: 'SET', parameterStatus: { DateStyle: 'German, DMY', IntervalStyle: 'sql_standard' } };
      case 'german':
        return {
          commandTag: 'SELECT 1',
          fields: [
            { name: 'ts', typeOid: 1184 },
            { name: 'd', typeOid: 1082 },
            { name: 'i', typeOid: 1186 },
          ],
          rows: [['02.01.2024 04:04:05.5 CET', '03.02.2024', '-1 2:03:04']],
        };
      case 'set timezone':
        return { commandTag: 'SET', parameterStatus: { TimeZone: 'Europe/Paris' } };
      case 'insert':
        return { commandTag: 'INSERT 0 1' };
      case 'begin':
        this.tx = 'T';
        return { commandTag: 'BEGIN' };
      case 'commit':
      case 'rollback': {
        const tag = h.kind === 'commit' && this.tx === 'E' ? 'ROLLBACK' : h.kind.toUpperCase();
        this.tx = 'I';
        return { commandTag: tag };
      }
      case 'boom':
        throw new Error('kaboom');
      case 'fatal':
        throw pgErr('57P01', 'terminating connection for test', { severity: 'FATAL' });
      case 'sleep':
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, h.n);
          this.onCancel = () => {
            clearTimeout(t);
            reject(pgErr('57014', 'canceling statement due to user request'));
          };
        });
        this.onCancel = null;
        return { commandTag: 'SELECT 0', fields: [], rows: [] };
      default:
        throw pgErr('XX000', `unhandled ${h.kind}`);
    }
  }

  txStatus(): TxStatus {
    return this.tx;
  }

  cancel(): void {
    this.cancels++;
    this.onCancel?.();
  }

  async close(): Promise<void> {
    this.closes++;
  }
}

const sessions: FakeSession[] = [];
const backend: PgBackend = {
  async openSession(startup) {
    if (startup.database === 'nope') throw pgErr('3D000', 'database "nope" does not exist');
    const s = new FakeSession(startup);
    sessions.push(s);
    return s;
  },
};

const protocolErrors: string[] = [];
const baseOptions: PgWireOptions = {
  host: '127.0.0.1',
  port: 0,
  backend,
  auth: { method: 'trust' },
  onProtocolError: (err) => protocolErrors.push(err.message),
};

let server: PgWireServer;
let scramServer: PgWireServer;
let smallServer: PgWireServer;

before(async () => {
  server = await startPgWireServer(baseOptions);
  scramServer = await startPgWireServer({ ...baseOptions, auth: { method: 'scram-sha-256', users: { alice: 's3cret', bob: 'pässwörd' } } });
  smallServer = await startPgWireServer({ ...baseOptions, maxMessageBytes: 1024 });
});

after(async () => {
  console.log('DEBUG open', server.connections(), scramServer.connections(), smallServer.connections(), Date.now());
  await Promise.all([server.close(), scramServer.close(), smallServer.close()]);
  for (const s of sessions) assert.equal(s.closes, 1, `session of ${s.startup.user} closed ${s.closes} times`);
});

async function withClient<T>(fn: (c: pg.Client) => Promise<T>, config: pg.ClientConfig = {}): Promise<T> {
  const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'tester', database: 'db', ...config });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A query config forced onto the extended protocol (pg uses the simple protocol when there are no values). */
const ext = (text: string, values: unknown[] = [], extra: { binary?: boolean } = {}): pg.QueryConfig =>
  ({ text, values, ...extra, queryMode: 'extended' }) as pg.QueryConfig;

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

// ------------------------------------------------------------------ pg client

describe('pg client', () => {
  test('simple query, typed rows, notices and multi-statement', async () => {
    await withClient(async (c) => {
      assert.deepEqual((await c.query('SELECT 42')).rows, [{ '?column?': 42 }]);
      const items = await c.query('select * from items');
      assert.equal(items.rowCount, 2);
      const [a, b] = items.rows;
      assert.equal(a.id, 1);
      assert.equal(a.name, 'widget');
      assert.equal(a.price, '12.50');
      assert.equal(a.active, true);
      assert.equal((a.created as Date).toISOString(), '2024-01-02T03:04:05.123Z');
      assert.deepEqual(a.data, Buffer.from([1, 2, 255]));
      assert.equal(a.ratio, 0.25);
      assert.equal(a.big, '9007199254740993');
      assert.equal(b.name, null);
      assert.equal(b.ratio, -1e100);
      const notices: string[] = [];
      c.on('notice', (n) => notices.push(n.message ?? ''));
      const multi = (await c.query('select 1; notice; select 2')) as unknown as pg.QueryResult[];
      assert.equal(multi.length, 3);
      assert.deepEqual(multi[2]?.rows, [{ '?column?': 2 }]);
      assert.deepEqual(notices, ['hello from notice']);
      const params: string[] = [];
      c.on('notification', () => {});
      (c as unknown as { connection: { on(e: string, f: (m: { parameterName: string }) => void): void } }).connection.on(
        'parameterStatus',
        (m) => params.push(m.parameterName),
      );
      await c.query('set timezone');
      assert.deepEqual(params, ['TimeZone']);
      const empty = await c.query('');
      assert.equal(empty.rowCount, null);
    });
  });

  test('extended protocol with parameters, named statements, binary params and nulls', async () => {
    await withClient(async (c) => {
      const r = await c.query({ text: 'select $1::int4, $2::text, $3::bool', values: [7, 'héllo', null] });
      assert.deepEqual(r.rows, [{ c1: 7, c2: 'héllo', c3: null }]);
      for (const v of [1, 2, 3]) {
        const q = await c.query({ name: 'named-echo', text: 'select $1::int8', values: [v] });
        assert.deepEqual(q.rows, [{ c1: String(v) }]);
      }
      const bin = await c.query({ text: 'select $1::int4, $2::bytea', values: [Buffer.from([0, 0, 1, 0]), Buffer.from([0xde, 0xad])] });
      assert.deepEqual(bin.rows, [{ c1: 256, c2: Buffer.from([0xde, 0xad]) }]);
      const binResult = await c.query(ext('select $1::int4, $2::text', [5, 'hi'], { binary: true }));
      assert.deepEqual(binResult.rows, [{ c1: 5, c2: 'hi' }]);
      const items = await c.query(ext('select * from items'));
      assert.equal(items.rows.length, 2);
      const gen = await c.query(ext('generate 3'));
      assert.deepEqual(
        gen.rows.map((row) => row.i),
        [1, 2, 3],
      );
      assert.equal(gen.command, 'SELECT');
      const ins = await c.query(ext('insert'));
      assert.equal(ins.rowCount, 1);
    });
  });

  test('errors carry SQLSTATE and position; the connection stays usable', async () => {
    await withClient(async (c) => {
      await assert.rejects(c.query('select * from missing'), (e: pg.DatabaseError) => {
        assert.equal(e.code, '42P01');
        assert.equal(e.position, '15');
        assert.equal(e.severity, 'ERROR');
        return true;
      });
      await assert.rejects(c.query('select 1; select * from missing; select 2'), { code: '42P01' });
      await assert.rejects(c.query(ext('select * from missing')), { code: '42P01' });
      await assert.rejects(c.query(ext('selec 1')), { code: '42601' });
      await assert.rejects(c.query('boom'), { code: 'XX000', message: 'kaboom' });
      await assert.rejects(c.query(ext('boom')), { code: 'XX000' });
      await assert.rejects(c.query({ text: 'select $1::int4', values: [Buffer.from([1])] }), {
        code: '08P01',
        message: 'insufficient data left in message',
        where: 'unnamed portal parameter $1',
      });
      await assert.rejects(c.query({ text: 'select $1::int4', values: [Buffer.from([0, 0, 0, 0, 1])] }), {
        code: '22P03',
        message: 'incorrect binary data format in bind parameter 1',
      });
      await assert.rejects(c.query(ext('select point', [], { binary: true })), { code: '0A000' });
      await assert.rejects(c.query({ text: 'select $1::point', values: [Buffer.from('{}')] }), { code: '0A000' });
      assert.deepEqual((await c.query('select 5')).rows, [{ '?column?': 5 }]);
      assert.deepEqual((await c.query({ text: 'select $1::int4', values: [6] })).rows, [{ c1: 6 }]);
    });
  });

  test('large results stream with backpressure (simple and extended)', async () => {
    await withClient(async (c) => {
      const simple = await c.query('generate 100000');
      assert.equal(simple.rows.length, 100000);
      assert.equal(simple.rows[99999].label, 'row number 100000');
      const extended = await c.query(ext('generate 50000'));
      assert.equal(extended.rowCount, 50000);
    });
  });

  test('CancelRequest cancels the running statement', async () => {
    await withClient(async (c) => {
      const running = c.query('sleep 10000').then(
        () => null,
        (e: unknown) => e,
      );
      await sleep(100);
      const raw = await Raw.open(server.port);
      const pid = (c as unknown as { processID: number }).processID;
      const secret = (c as unknown as { secretKey: number }).secretKey;
      raw.send(Buffer.concat([i32(16), i32(80877102), i32(pid), i32(secret)]));
      await raw.closed();
      assert.equal(((await running) as { code?: string } | null)?.code, '57014');
      assert.deepEqual((await c.query('select 1')).rows, [{ '?column?': 1 }]);
    });
  });

  test('openSession failure is a FATAL with its SQLSTATE', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'tester', database: 'nope' });
    await assert.rejects(client.connect(), { code: '3D000', message: 'database "nope" does not exist' });
  });

  test('SQL-layer FATAL ends the connection', async () => {
    const client = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'tester', database: 'db' });
    client.on('error', () => {});
    await client.connect();
    await assert.rejects(client.query('fatal'), { code: '57P01', severity: 'FATAL' });
    await client.end().catch(() => {});
  });

  test('SCRAM-SHA-256 authentication', async () => {
    const cfg = { host: '127.0.0.1', port: scramServer.port, database: 'db' };
    await withClient(async (c) => assert.deepEqual((await c.query('select 3')).rows, [{ '?column?': 3 }]), {
      ...cfg,
      user: 'alice',
      password: 's3cret',
    });
    await withClient(async (c) => assert.equal((await c.query('select 4')).rowCount, 1), { ...cfg, user: 'bob', password: 'pässwörd' });
    for (const [user, password] of [
      ['alice', 'wrong'],
      ['mallory', 'x'],
    ]) {
      const c = new pg.Client({ ...cfg, user, password });
      await assert.rejects(c.connect(), { code: '28P01', message: `password authentication failed for user "${user}"` });
    }
  });
});

// ------------------------------------------------------------------ psql

function psql(
  port: number,
  args: string[],
  env: Record<string, string> = {},
  user = 'u',
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      '/usr/bin/psql',
      [`host=127.0.0.1 port=${port} user=${user} dbname=d sslmode=prefer`, '-X', ...args],
      { env: { ...process.env, PGAPPNAME: 'psql-test', ...env }, timeout: 15000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('psql', () => {
  test('runs queries over a declined SSLRequest', async () => {
    const r = await psql(server.port, ['-A', '-t', '-c', 'SELECT 42']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '42');
    assert.equal(sessions.at(-1)?.startup.params.application_name, 'psql-test');
    const items = await psql(server.port, ['-A', '-c', 'select * from items']);
    assert.equal(items.code, 0, items.stderr);
    const lines = items.stdout.trim().split('\n');
    assert.equal(lines[0], 'id|name|price|active|created|uid|data|ratio|big|day');
    assert.equal(
      lines[1],
      '1|widget|12.50|t|2024-01-02 03:04:05.123456+00|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|\\x0102ff|0.25|9007199254740993|2024-02-29',
    );
    assert.equal(lines[3], '(2 rows)');
  });

  test('reports errors with position and notices', async () => {
    const r = await psql(server.port, ['-c', 'select * from missing']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ERROR: {2}relation "missing" does not exist\nLINE 1: select \* from missing\n {22}\^/);
    const n = await psql(server.port, ['-c', 'notice']);
    assert.equal(n.code, 0);
    assert.match(n.stderr, /NOTICE: {2}hello from notice\nDETAIL: {2}some detail/);
    assert.equal(n.stdout.trim(), 'DO');
  });

  test('SCRAM with PGPASSWORD', async () => {
    const good = await psql(scramServer.port, ['-A', '-t', '-c', 'select 7'], { PGPASSWORD: 's3cret' }, 'alice');
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout.trim(), '7');
    const bad = await psql(scramServer.port, ['-c', 'select 7'], { PGPASSWORD: 'nope' }, 'alice');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /FATAL: {2}password authentication failed for user "alice"/);
  });
});

// ------------------------------------------------------------------ raw sockets

describe('raw protocol', () => {
  test('SSLRequest and GSSENCRequest are declined, then startup proceeds', async () => {
    const r = await Raw.open(server.port);
    r.send(Buffer.concat([i32(8), i32(80877104)]));
    assert.equal(await r.byte(), 'N');
    r.send(Buffer.concat([i32(8), i32(80877103)]));
    assert.equal(await r.byte(), 'N');
    r.send(startupPacket({ user: 'ssl', application_name: 'rawapp' }));
    const msgs = await r.until('Z');
    assert.equal(types(msgs), `R${'S'.repeat(13)}KZ`);
    const status = Object.fromEntries(msgs.filter((m) => m.type === 'S').map((m) => m.payload.toString().split('\0').slice(0, 2)));
    assert.equal(status.server_version, '15.0');
    assert.equal(status.session_authorization, 'ssl');
    assert.equal(status.application_name, 'rawapp');
    assert.equal(sessions.at(-1)?.startup.database, 'ssl');
    assert.equal(cstrOf(msgs.at(-1)), '');
    assert.equal(msgs.at(-1)?.payload.toString(), 'I');
    r.end();
    await r.closed();
  });

  test('startup failures: bad protocol, missing user, bad length, truncated packet', async () => {
    const v2 = await Raw.open(server.port);
    v2.send(startupPacket({ user: 'x' }, 2 << 16));
    assert.equal(errorFields(await v2.next()).C, '0A000');
    await v2.closed();

    const noUser = await Raw.open(server.port);
    noUser.send(startupPacket({ database: 'x' }));
    const e = errorFields(await noUser.next());
    assert.deepEqual([e.S, e.V, e.C], ['FATAL', 'FATAL', '28000']);
    await noUser.closed();

    const badLen = await Raw.open(server.port);
    badLen.send(i32(3));
    assert.equal(errorFields(await badLen.next()).C, '08P01');
    await badLen.closed();

    const noTerminator = await Raw.open(server.port);
    noTerminator.send(Buffer.concat([i32(13), i32(196608), Buffer.from('user\0')]));
    assert.match(errorFields(await noTerminator.next()).M ?? '', /terminator/);
    await noTerminator.closed();

    const newer = await Raw.open(server.port);
    newer.send(startupPacket({ user: 'n', '_pq_.compression': 'on' }, (3 << 16) | 2));
    const negotiated = await newer.until('Z');
    assert.equal(negotiated[0]?.type, 'v');
    assert.deepEqual([negotiated[0]?.payload.readInt32BE(0), negotiated[0]?.payload.readInt32BE(4)], [0, 1]);
    assert.equal(negotiated[0]?.payload.toString('utf8', 8), '_pq_.compression\0');
    newer.end();

    const truncated = await Raw.open(server.port);
    const before = server.connections();
    truncated.send(Buffer.concat([i32(100), i32(196608), Buffer.from('user')]));
    await sleep(50);
    truncated.socket.destroy();
    await waitFor(() => server.connections() < before);
  });

  test('oversized simple query is skipped with 54000 and the socket stays usable', { timeout: 60000 }, async () => {
    const r = await Raw.ready(server.port);
    const size = 17 * 1024 * 1024;
    r.send(Buffer.concat([Buffer.from('Q'), i32(size + 4)]));
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    for (let sent = 0; sent < size; sent += chunk.length) {
      const piece = sent + chunk.length > size ? chunk.subarray(0, size - sent) : chunk;
      await new Promise<void>((resolve) => r.socket.write(piece, () => resolve()));
    }
    r.send(Q('select 9'));
    const msgs = await r.until('Z');
    const err = errorFields(msgs[0]);
    assert.equal(err.C, '54000');
    assert.equal(err.M, `message of ${size + 4} bytes exceeds the limit of ${16 * 1024 * 1024 + 1024} bytes`);
    assert.equal(types(msgs), 'EZ');
    const next = await r.until('Z');
    assert.equal(types(next), 'TDCZ');
    assert.deepEqual(textRow(next[1]), ['9']);
    r.end();
  });

  test('oversized extended message enters discard-until-Sync', async () => {
    const r = await Raw.ready(smallServer.port);
    r.send(Buffer.concat([P('', `select $1::text -- ${'x'.repeat(5000)}`), B('', '', [], []), E(''), S(), Q('select 1')]));
    const msgs = await r.until('Z');
    assert.equal(types(msgs), 'EZ');
    assert.equal(errorFields(msgs[0]).C, '54000');
    assert.equal(types(await r.until('Z')), 'TDCZ');
    r.end();
  });

  test('malformed messages get 08P01 and only that connection closes', async () => {
    const cases: [string, Buffer][] = [
      ['length 2', Buffer.concat([Buffer.from('Q'), i32(2)])],
      ['unknown type', frame('z', Buffer.from('abc'))],
      ['Parse without terminator', frame('P', Buffer.from('abc'))],
      ['Bind parameter count beyond payload', frame('B', cstr(''), cstr(''), i16(0), i16(50), i32(4))],
      ['negative parameter length', frame('B', cstr(''), cstr(''), i16(0), i16(1), i32(-5), i16(0))],
      ['trailing bytes in Sync', frame('S', Buffer.from('x'))],
      ['password message after auth', frame('p', cstr('pw'))],
    ];
    const survivor = await Raw.ready(server.port);
    for (const [label, bytes] of cases) {
      const r = await Raw.ready(server.port);
      r.send(bytes);
      const e = errorFields(await r.next());
      assert.equal(e.C, '08P01', label);
      assert.equal(e.S, 'FATAL', label);
      await r.closed();
    }
    assert.ok(protocolErrors.some((m) => m.includes('invalid frontend message type 122')));
    survivor.send(Q('select 3'));
    assert.equal(types(await survivor.until('Z')), 'TDCZ');
    survivor.end();
  });

  test('random garbage on many connections never takes the server down', async () => {
    let seed = 42;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    const kinds = [...'QPBDECSHXpFdcfz'];
    await Promise.all(
      Array.from({ length: 40 }, async (_, n) => {
        const r = n % 2 === 0 ? await Raw.ready(server.port) : await Raw.open(server.port);
        const parts: Buffer[] = [];
        for (let i = 0; i < 8; i++) {
          const body = Buffer.from(Array.from({ length: rand() % 40 }, () => rand() % 256));
          parts.push(rand() % 3 === 0 ? body : frame(kinds[rand() % kinds.length] as string, body));
        }
        r.send(Buffer.concat(parts));
        await sleep(20);
        r.socket.destroy();
      }),
    );
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => withClient(async (c) => (await c.query(ext('select $1::int4', [i]))).rows[0]?.c1)),
    );
    assert.deepEqual(results, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await waitFor(() => server.connections() === 0);
  });

  test('socket closing mid-message is cleaned up', async () => {
    const r = await Raw.ready(server.port);
    const session = sessions.at(-1);
    r.send(Buffer.concat([Buffer.from('Q'), i32(1000), Buffer.from('select')]));
    await sleep(20);
    r.socket.destroy();
    await waitFor(() => session?.closes === 1);
  });

  test('Parse/Describe/Bind/Execute with portal suspension and Close', async () => {
    const r = await Raw.ready(server.port);
    r.send(Buffer.concat([P('s1', 'select $1::int4, $2'), D('S', 's1'), P('g', 'generate 5'), D('S', 'g'), S()]));
    let m = await r.until('Z');
    assert.equal(types(m), '1tT1tnZ');
    assert.deepEqual([m[1]?.payload.readInt16BE(0), m[1]?.payload.readInt32BE(2), m[1]?.payload.readInt32BE(6)], [2, 23, 25]);
    assert.deepEqual(
      rowDescription(m[2]).map((f) => f.oid),
      [23, 25],
    );

    r.send(Buffer.concat([B('p', 'g', [], []), D('P', 'p'), E('p', 2), E('p', 2), E('p', 2), E('p', 2), S()]));
    m = await r.until('Z');
    assert.equal(types(m), '2TDDsDDsDCCZ');
    assert.deepEqual(
      rowDescription(m[1]).map((f) => f.name),
      ['i', 'label'],
    );
    assert.deepEqual(textRow(m[8]), ['5', 'row number 5']);
    assert.equal(cstrOf(m[9]), 'SELECT 1');
    assert.equal(cstrOf(m[10]), 'SELECT 0');

    r.send(Buffer.concat([P('s1', 'select 1'), B('', 's1', [], []), S()]));
    m = await r.until('Z');
    assert.equal(types(m), 'EZ');
    assert.equal(errorFields(m[0]).C, '42P05');

    r.send(Buffer.concat([C('S', 's1'), C('P', 'nothing'), B('', 's1', [], []), S()]));
    m = await r.until('Z');
    assert.equal(types(m), '33EZ');
    assert.equal(errorFields(m[2]).C, '26000');

    r.send(Buffer.concat([P('f', 'select 1'), frame('H')]));
    assert.equal((await r.next()).type, '1');

    r.send(Buffer.concat([E('nope'), S(), P('', ''), B('', '', [], []), D('P', ''), E(''), S()]));
    m = await r.until('Z');
    assert.equal(errorFields(m[0]).C, '34000');
    assert.equal(types(await r.until('Z')), '12nIZ');
    r.end();
  });

  test('RowDescription carries type modifiers; Parse-declared parameter types win', async () => {
    const r = await Raw.ready(server.port);
    r.send(Buffer.concat([P('', 'select typed'), D('S', ''), S()]));
    const desc = await r.until('Z');
    assert.equal(types(desc), '1tTZ');
    const t = desc[2] as Msg;
    const typmods: number[] = [];
    let p = 2;
    for (let i = t.payload.readInt16BE(0); i > 0; i--) {
      p = t.payload.indexOf(0, p) + 1;
      typmods.push(t.payload.readInt32BE(p + 12));
      p += 18;
    }
    assert.deepEqual(typmods, [14, 655366, -1, -1]);
    // The session infers int4 for $1; the client declared int8, so int8 is described and decoded.
    r.send(Buffer.concat([P('s8', 'select $1::int4', [20]), D('S', 's8'), S()]));
    const pd = await r.until('Z');
    assert.equal(types(pd), '1tTZ');
    assert.equal(pd[1]?.payload.readInt32BE(2), 20);
    r.send(Buffer.concat([B('', 's8', [1], [Buffer.from('0000000100000000', 'hex')]), E(''), S()]));
    const row = await r.until('Z');
    assert.deepEqual(textRow(row[1]), ['4294967296']);
    // New types and arrays come back in binary when asked.
    r.send(Buffer.concat([B('', '', [], [], [1]), E(''), S()]));
    const bin = await r.until('Z');
    assert.equal(types(bin), '2DCZ');
    const values = dataRow(bin[1]);
    assert.deepEqual(
      TYPED_FIELDS.map((f, i) => decodeBinaryParam(f.typeOid, values[i] as Buffer)),
      ['abc', '1.50', '{1,NULL}', '1 day 02:00:00'],
    );
    r.end();
  });

  test('binary results read the text under the DateStyle, TimeZone and IntervalStyle announced in ParameterStatus', async () => {
    const r = await Raw.ready(server.port);
    r.send(Q('set timezone; set datestyle'));
    await r.until('Z');
    r.send(Buffer.concat([P('', 'select german'), B('', '', [], [], [1]), E(''), S()]));
    const m = await r.until('Z');
    assert.equal(types(m), '12DCZ');
    const [ts, d, i] = dataRow(m[2]) as Buffer[];
    assert.equal(decodeBinaryParam(1184, ts as Buffer), '2024-01-02 03:04:05.5+00');
    assert.equal(decodeBinaryParam(1082, d as Buffer), '2024-02-03');
    assert.equal(decodeBinaryParam(1186, i as Buffer), '-1 days -02:03:04');
    r.end();
  });

  test('transaction status in ReadyForQuery', async () => {
    const r = await Raw.ready(server.port);
    r.send(Q('begin'));
    assert.equal((await r.until('Z')).at(-1)?.payload.toString(), 'T');
    r.send(Q('select * from missing'));
    assert.equal((await r.until('Z')).at(-1)?.payload.toString(), 'E');
    r.send(Q('rollback'));
    assert.equal((await r.until('Z')).at(-1)?.payload.toString(), 'I');
    r.end();
  });

  test('binary parameters are decoded to text for every supported type', async () => {
    const cases: [string, Buffer, string][] = [
      ['int2', i16(-12), '-12'],
      ['int4', i32(123456), '123456'],
      ['int8', encodeBinaryValue(OID.int8, '-9223372036854775808'), '-9223372036854775808'],
      ['float4', encodeBinaryValue(OID.float4, '0.1'), '0.1'],
      ['float8', encodeBinaryValue(OID.float8, '3.141592653589793'), '3.141592653589793'],
      ['bool', Buffer.from([1]), 't'],
      ['text', Buffer.from('grüße'), 'grüße'],
      ['varchar', Buffer.from('v'), 'v'],
      ['uuid', Buffer.from('a0eebc999c0b4ef8bb6d6bb9bd380a11', 'hex'), 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
      ['timestamp', Buffer.from('0000000000000000', 'hex'), '2000-01-01 00:00:00'],
      ['timestamptz', encodeBinaryValue(OID.timestamptz, '2024-01-02 03:04:05.5+02'), '2024-01-02 01:04:05.5+00'],
      ['date', i32(-1), '1999-12-31'],
      ['bytea', Buffer.from([0, 255]), '\\x00ff'],
      ['numeric', encodeBinaryValue(OID.numeric, '-1234567.000891'), '-1234567.000891'],
    ];
    const r = await Raw.ready(server.port);
    const sql = `select ${cases.map(([t], i) => `$${i + 1}::${t}`).join(', ')}`;
    r.send(
      Buffer.concat([
        P('', sql),
        B(
          '',
          '',
          [1],
          cases.map(([, b]) => b),
        ),
        E(''),
        S(),
      ]),
    );
    const m = await r.until('Z');
    assert.equal(types(m), '12DCZ');
    assert.deepEqual(
      textRow(m[2]),
      cases.map(([, , text]) => text),
    );

    // Same values back in binary result format, decoded with the independent-path decoder.
    r.send(
      Buffer.concat([
        B(
          '',
          '',
          [1],
          cases.map(([, b]) => b),
          [1],
        ),
        D('P', ''),
        E(''),
        S(),
      ]),
    );
    const back = await r.until('Z');
    assert.equal(types(back), '2TDCZ');
    assert.ok(rowDescription(back[1]).every((f) => f.format === 1));
    const row = dataRow(back[2]);
    for (const [i, [t, , text]] of cases.entries()) assert.equal(decodeBinaryParam(TYPES[t] as number, row[i] as Buffer), text, t);

    r.send(Buffer.concat([P('j', 'select $1::point'), B('', 'j', [1], [Buffer.from('{}')]), S()]));
    const unsupported = await r.until('Z');
    assert.equal(errorFields(unsupported[1]).C, '0A000');
    r.end();
  });

  test('error in extended mode discards until Sync', async () => {
    const r = await Raw.ready(server.port);
    r.send(Buffer.concat([P('', 'selec 1'), B('', '', [], []), D('P', ''), E(''), Q('select 1'), S(), Q('select 2')]));
    const m = await r.until('Z');
    assert.equal(types(m), 'EZ');
    assert.equal(errorFields(m[0]).C, '42601');
    const next = await r.until('Z');
    assert.deepEqual(textRow(next[1]), ['2']);
    r.end();
  });

  test('close() ends idle connections with 57P01 and closes every session once', async () => {
    const own = await startPgWireServer(baseOptions);
    const a = await Raw.ready(own.port);
    const b = await Raw.ready(own.port);
    assert.equal(own.connections(), 2);
    const started = Date.now();
    await own.close();
    assert.ok(Date.now() - started < 1500);
    assert.equal(errorFields(await a.next()).C, '57P01');
    assert.equal(errorFields(await b.next()).C, '57P01');
    assert.equal(own.connections(), 0);
    await assert.rejects(Raw.open(own.port));
  });
});

// ------------------------------------------------------------------ framing

describe('FrameReader', () => {
  const stream = Buffer.concat([
    startupPacket({ user: 'u' }),
    Q('select 1'),
    frame('Q', Buffer.alloc(300, 0x61)),
    S(),
    P('n', 'select $1', [23]),
    frame('z'),
    Q('never'),
  ]);
  const expected = (frames: Frame[]) =>
    frames.map((f) =>
      f.kind === 'message' ? `${String.fromCharCode(f.type)}${f.payload.length}` : f.kind === 'oversized' ? `big${f.length}` : f.kind,
    );

  test('same frames for any chunking; oversized skipped; stops at a violation', () => {
    const want = ['startup', 'Q9', 'big304', 'S0', 'P18', 'violation'];
    for (const size of [1, 2, 3, 5, 7, 64, 1000, stream.length]) {
      const reader = new FrameReader(256);
      const got: Frame[] = [];
      for (let i = 0; i < stream.length; i += size) got.push(...reader.push(stream.subarray(i, i + size)));
      assert.deepEqual(expected(got), want, `chunk size ${size}`);
      assert.equal(reader.pendingBytes, 0);
    }
  });

  test('SSLRequest keeps the reader in startup mode', () => {
    const reader = new FrameReader(1024);
    const frames = reader.push(Buffer.concat([i32(8), i32(80877103), startupPacket({ user: 'u' }), S()]));
    assert.deepEqual(expected(frames), ['startup', 'startup', 'S0']);
  });
});

// ------------------------------------------------------------------ value formats

describe('binary formats', () => {
  test('round-trips text → binary → text', () => {
    const cases: [number, string][] = [
      [OID.numeric, '0'],
      [OID.numeric, '12.50'],
      [OID.numeric, '-0.0001230'],
      [OID.numeric, '100000000'],
      [OID.numeric, '99999999999999999999.123456789'],
      [OID.numeric, 'NaN'],
      [OID.numeric, '-Infinity'],
      [OID.timestamp, '0044-03-15 12:00:00 BC'],
      [OID.timestamp, '1969-12-31 23:59:59.999999'],
      [OID.timestamptz, '294276-12-31 23:59:59.999999+00'],
      [OID.timestamptz, 'infinity'],
      [OID.date, '0001-01-01 BC'],
      [OID.date, '2400-02-29'],
      [OID.float4, '3.4028235e+38'],
      [OID.float4, '-0'],
      [OID.float8, 'NaN'],
      [OID.int2, '32767'],
      [OID.bool, 'f'],
      [OID.bytea, '\\x'],
    ];
    for (const [oid, text] of cases) assert.equal(decodeBinaryParam(oid, encodeBinaryValue(oid, text)), text, `${oid} ${text}`);
    assert.equal(decodeBinaryParam(OID.numeric, encodeBinaryValue(OID.numeric, '1.5e3')), '1500');
    assert.deepEqual(encodeBinaryValue(OID.numeric, '12.50'), Buffer.from([0, 2, 0, 0, 0, 0, 0, 2, 0, 12, 0x13, 0x88]));
    assert.deepEqual(encodeBinaryValue(OID.date, '2000-01-02'), i32(1));
    assert.throws(() => encodeBinaryValue(OID.int2, '40000'), { code: '22003' });
    assert.throws(() => encodeBinaryValue(OID.int4, 'abc'), { code: '22P02' });
    assert.throws(() => decodeBinaryParam(600, Buffer.alloc(16)), { code: '0A000' });
  });
});
