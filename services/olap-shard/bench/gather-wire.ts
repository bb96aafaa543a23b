/**
 * Benchmark (issue 13 item 6): what a router's scatter/gather scan costs on the wire, rows as
 * MessagePack values (`QueryResult.rows`, before) vs one Arrow IPC stream
 * (`QueryOptions.resultFormat: 'arrow'`). One shard holding flights-3m (committed as a live
 * feed, pushed a month at a time, compacted) serves `query` over the real RPC path in this
 * process: `startHttpServer` + `registerRpc` on a local port, called with `rpcClient` as the
 * router calls a remote shard (shared/src/rpc.ts). Per scan and format: the response body's
 * bytes and the time per call until the caller holds `Value[][]` (`resultRows`: the Arrow
 * decode included), median of `runs`, formats interleaved so machine noise hits both; plus the
 * same scan in process (`shard.query`, no transport) for scale. Prints a markdown table;
 * asserts nothing.
 *
 *   node --import tsx services/olap-shard/bench/gather-wire.ts [runs=5]
 *   COMPACT=0 …   query the files as pushed (default: after `compactNow()`)
 */
import { availableParallelism, loadavg } from 'node:os';
import { type OlapShardApi, type QueryOptions, registerRpc, rpcClient, startHttpServer } from '@stratum/shared';
import { resultRows } from '@stratum/shared/arrow';
import { removeDir } from '../src/test-support.ts';
import { flightsShard, flightVersions, median } from './flights-data.ts';

const RUNS = Number(process.argv[2] ?? 5);

/** Gathered scans as the router sends them: columns and pushed-down conjuncts of one table. */
const SCANS = [
  'SELECT origin, delay FROM flights',
  "SELECT * FROM flights WHERE date >= '2001-03-01' AND date < '2001-03-08'",
  'SELECT id, delay FROM flights WHERE id BETWEEN 2000000 AND 2010000',
  "SELECT id, date, delay FROM flights WHERE origin = 'SFO' AND date >= '2001-05-01' AND date < '2001-05-02'",
];

console.log(
  `load averages ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}, ${availableParallelism()} cores, ${RUNS} runs`,
);
let t = performance.now();
const versions = await flightVersions();
const { shard, dir, catalog } = await flightsShard(versions);
versions.length = 0;
if (process.env.COMPACT !== '0') await shard.compactNow();
console.log(`shard ready in ${((performance.now() - t) / 1000).toFixed(1)} s: ${shard.stats().files} files`);

// Bytes of each /rpc/query response body, as fastify sends it.
let sentBytes = 0;
const srv = await startHttpServer({
  host: '127.0.0.1',
  port: 0,
  health: () => ({ status: 'ok' }),
  setup: (app) => {
    app.addHook('onSend', async (req, _reply, payload) => {
      if (req.url === '/rpc/query' && payload instanceof Uint8Array) sentBytes = payload.byteLength;
      return payload;
    });
    registerRpc(app, shard, ['query']);
  },
});
const remote = rpcClient<OlapShardApi>(`http://127.0.0.1:${srv.port}`, ['query'], {
  name: 'olap-shard bench',
  abortable: ['query'],
  timeoutMs: 600_000,
});

/** One call over RPC until the rows are `Value[][]`: ms, response bytes, rows. */
async function overRpc(sql: string, options: QueryOptions): Promise<{ ms: number; bytes: number; rows: number }> {
  const signal = new AbortController().signal;
  const t0 = performance.now();
  const r = await remote.query(sql, [], catalog.version, options, signal);
  const rows = resultRows(r);
  return { ms: performance.now() - t0, bytes: sentBytes, rows: rows.length };
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const mb = (x: number) => (x / 1e6).toFixed(2);
const lines: string[] = [];
for (const sql of SCANS) {
  const ms: Record<'rows' | 'arrow' | 'local', number[]> = { rows: [], arrow: [], local: [] };
  const bytes = { rows: 0, arrow: 0 };
  let rows = 0;
  // One warm-up of each (the shard's plan cache, apache-arrow's first load), then interleaved runs.
  await overRpc(sql, {});
  await overRpc(sql, { resultFormat: 'arrow' });
  for (let i = 0; i < RUNS; i++) {
    t = performance.now();
    await shard.query(sql, [], catalog.version);
    ms.local.push(performance.now() - t);
    for (const format of i % 2 === 0 ? (['rows', 'arrow'] as const) : (['arrow', 'rows'] as const)) {
      const r = await overRpc(sql, { resultFormat: format });
      ms[format].push(r.ms);
      bytes[format] = r.bytes;
      if (format === 'rows') rows = r.rows;
      else if (r.rows !== rows && rows !== 0) throw new Error(`${sql}: ${r.rows} Arrow rows, ${rows} plain rows`);
    }
  }
  const [mr, ma, ml] = [median(ms.rows), median(ms.arrow), median(ms.local)];
  lines.push(
    `| \`${sql}\` | ${rows} | ${mb(bytes.rows)} | ${mb(bytes.arrow)} | ${f2(bytes.arrow / bytes.rows)} | ${f1(mr)} | ${f1(ma)} | ${f2(ma / mr)} | ${f1(ml)} |`,
  );
  console.log(lines[lines.length - 1]);
}
console.log();
console.log('| scan | rows | MB rows | MB arrow | bytes arrow/rows | ms rows | ms arrow | ms arrow/rows | ms in process (rows) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const l of lines) console.log(l);

await remote.closeClient();
await srv.close();
await shard.close();
await removeDir(dir);
