/**
 * The 10 flights dashboard queries, [name, SQL]: the one list of bench/pgbench.ts's `htap`
 * workload and of services/olap-shard/bench/flights-queries.ts (the shard's pruning and
 * latency bench).
 *
 * Over the first N rows in file order (`--flights-rows`, default 500,000: 2001-01-01 to
 * 2001-01-31) 'one week' (March), 'one day, one airport' (May), 'point lookup' (id 1,234,567)
 * and 'key range' (ids 2,000,000–2,010,000) match no row; they still run (and pruning makes
 * them cheap). From 2,010,001 rows on every query matches rows.
 */
export const DASHBOARD_QUERIES: readonly (readonly [string, string])[] = [
  ['count', 'SELECT count(*) FROM flights'],
  ['top origins', 'SELECT origin, count(*) AS n, avg(delay) AS d FROM flights GROUP BY origin ORDER BY n DESC LIMIT 10'],
  ['delay per day', "SELECT date_trunc('day', date) AS d, count(*) AS n, avg(delay) AS d2 FROM flights GROUP BY 1 ORDER BY 1"],
  ['late routes', 'SELECT origin, destination, count(*) AS n FROM flights WHERE delay > 60 GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 10'],
  ['by hour', 'SELECT extract(hour FROM date) AS h, avg(delay) AS d, max(delay) AS m FROM flights GROUP BY 1 ORDER BY 1'],
  ['distance buckets', 'SELECT distance / 500 * 500 AS bucket, count(*) AS n, avg(delay) AS d FROM flights GROUP BY 1 ORDER BY 1'],
  [
    'one week',
    "SELECT origin, count(*) AS n, avg(delay) AS d FROM flights WHERE date >= '2001-03-01' AND date < '2001-03-08' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5",
  ],
  [
    'one day, one airport',
    "SELECT count(*) AS n, avg(delay) AS d FROM flights WHERE date BETWEEN '2001-05-10' AND '2001-05-10 23:59:59' AND origin = 'SFO'",
  ],
  ['point lookup', 'SELECT * FROM flights WHERE id = 1234567'],
  ['key range', 'SELECT count(*), sum(delay) FROM flights WHERE id BETWEEN 2000000 AND 2010000'],
];
