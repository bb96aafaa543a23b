import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:');
const c = await inst.connect();
const p = 'node_modules/vega-datasets/data/flights-3m.parquet';
for (const s of ["SET TimeZone='UTC'", "SET default_null_order='nulls_last_on_asc_first_on_desc'", "SET integer_division=true"]) { try { await c.run(s); console.log('ok', s);} catch (e) { console.log('ERR', s, String(e)); } }
const r = await c.runAndReadAll(`SELECT date_trunc('day', date) d, extract(hour from date) h, avg(delay) a, -7 / 2 AS idiv, sum(delay) s, 1.0 AS dec, typeof(date_trunc('day', date)), typeof(extract(hour from date)), typeof(sum(delay)) FROM read_parquet('${p}') GROUP BY 1,2 ORDER BY 1,2 LIMIT 2`);
const rows = r.getRows();
for (const row of rows) console.log(row.map((v) => [typeof v, v?.constructor?.name, String(v)]));
console.log(r.columnTypes().map(t => t.toString()), r.columnTypes().map(t=>t.typeId));
for (const order of ['', 'ORDER BY file_row_number']) {
  const t0 = Date.now();
  const res = await c.stream(`SELECT file_row_number::VARCHAR, strftime(date, '%Y-%m-%d %H:%M:%S'), delay::VARCHAR, distance::VARCHAR, origin, destination FROM read_parquet('${p}', file_row_number=true) ${order}`);
  let n = 0; let first = -1; let chunks = 0; let mono = true; let prev = -1;
  for (;;) { const ch = await res.fetchChunk(); if (!ch || ch.rowCount === 0) break; chunks++; const rows = ch.getRows(); for (const row of rows) { const id = Number(row[0]); if (id !== prev + 1) mono = false; prev = id; } if (first < 0) first = Date.now() - t0; n += rows.length; }
  console.log(order, n, chunks, 'first', first, 'ms total', Date.now() - t0, 'ordered', mono, process.memoryUsage().rss/1e6);
}
