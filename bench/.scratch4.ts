import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:');
const c = await inst.connect();
const p = 'node_modules/vega-datasets/data/flights-3m.parquet';
const q = `SELECT file_row_number::VARCHAR, strftime(date, '%Y-%m-%d %H:%M:%S'), delay::VARCHAR, distance::VARCHAR, origin, destination FROM read_parquet('${p}', file_row_number=true)`;
async function bench(name: string, f: (ch: any) => number) {
  const t0 = Date.now();
  const res = await c.stream(q);
  let n = 0;
  for (;;) { const ch = await res.fetchChunk(); if (!ch || ch.rowCount === 0) break; n += f(ch); }
  console.log(name, n, Date.now() - t0);
}
await bench('nothing', (ch) => ch.rowCount);
await bench('getColumns', (ch) => ch.getColumns()[0].length);
await bench('vectors', (ch) => { let s = 0; for (let i = 0; i < 6; i++) { const v = ch.getColumnVector(i); for (let r = 0; r < ch.rowCount; r++) { if (v.getItem(r) !== null) s++; } } return s / 6; });
const q2 = `SELECT file_row_number, epoch_ms(date)::BIGINT, delay, distance, origin, destination FROM read_parquet('${p}', file_row_number=true)`;
{
  const t0 = Date.now(); const res = await c.stream(q2); let n = 0;
  for (;;) { const ch = await res.fetchChunk(); if (!ch || ch.rowCount === 0) break; const cols = ch.getColumns(); n += cols[0].length; }
  console.log('native types getColumns', n, Date.now() - t0);
}
{
  const t0 = Date.now(); const res = await c.streamAndReadUntil(q, 0); let n = 0;
  console.log('reader', Date.now()-t0);
}
