import { DuckDBInstance } from '@duckdb/node-api';
const inst = await DuckDBInstance.create(':memory:');
const c = await inst.connect();
const p = 'node_modules/vega-datasets/data/flights-3m.parquet';
const a = 'node_modules/vega-datasets/data/airports.csv';
for (const sql of [
  `DESCRIBE SELECT * FROM read_parquet('${p}')`,
  `SELECT count(*), count(date), count(delay), count(distance), count(origin), count(destination), min(date), max(date), min(delay), max(delay), min(distance), max(distance) FROM read_parquet('${p}')`,
  `SELECT count(*) FROM read_parquet('${p}') WHERE date <> date_trunc('second', date)`,
  `SELECT * FROM read_parquet('${p}', file_row_number=true) LIMIT 5`,
  `SELECT count(*) FROM (SELECT date,delay,distance,origin,destination, count(*) c FROM read_parquet('${p}') GROUP BY ALL HAVING c>1)`,
  `DESCRIBE SELECT * FROM read_csv('${a}', header=true)`,
  `SELECT count(*), count(DISTINCT iata), count(*) FILTER (WHERE latitude IS NULL OR latitude=''), count(*) FILTER (WHERE state IS NULL OR state=''), count(*) FILTER (WHERE name IS NULL), count(*) FILTER (WHERE city IS NULL),count(*) FILTER (WHERE country IS NULL) FROM read_csv('${a}', header=true, all_varchar=true)`,
  `SELECT * FROM read_csv('${a}', header=true, all_varchar=true) WHERE state IS NULL OR city IS NULL OR latitude NOT SIMILAR TO '-?[0-9.]+' LIMIT 20`,
  `SELECT count(DISTINCT origin), count(DISTINCT destination), count(*) FILTER (WHERE origin NOT IN (SELECT iata FROM read_csv('${a}', header=true, all_varchar=true))) FROM read_parquet('${p}')`,
  `SELECT max(length(latitude)), max(length(longitude)) FROM read_csv('${a}', header=true, all_varchar=true)`,
  `SELECT latitude, longitude FROM read_csv('${a}', header=true, all_varchar=true) WHERE latitude LIKE '%e%' OR length(latitude) > 12 LIMIT 10`,
]) {
  const r = await c.runAndReadAll(sql);
  console.log(sql.slice(0, 80)); console.log(r.getRowsJS());
}
