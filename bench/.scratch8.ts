import { startPostgres } from '../shared/src/testing/postgres.ts';
import { loadFlights } from '../cli/src/load-flights.ts';
import { referenceAnswers, pgAnswers, compareAnswers, FLIGHTS_QUERIES } from '../cli/src/flights-queries.ts';
import pg from 'pg';
const rows = process.argv[2] === 'all' ? undefined : Number(process.argv[2] ?? 50000);
const h = await startPostgres();
try {
  const r = await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, ...(rows !== undefined ? { rows } : {}) });
  console.log(r);
  let t = Date.now();
  const ref = await referenceAnswers(rows);
  console.log('ref ms', Date.now() - t);
  const c = new pg.Client({ host: h.host, port: h.port, user: h.user, database: h.database });
  await c.connect();
  t = Date.now();
  const got = await pgAnswers(c);
  console.log('pg ms', Date.now() - t);
  for (const q of FLIGHTS_QUERIES) {
    const e = ref.get(q.name)!; const a = got.get(q.name)!;
    const exact = compareAnswers(e, a, { maxReports: 3 });
    const tol = compareAnswers(e, a, { relTol: 1e-12 });
    const exactMismatchCells = compareAnswers(e, a, { maxReports: 1e9 }).length;
    console.log(q.name.padEnd(28), 'rows', e.length, 'exact mismatches', exactMismatchCells, 'tol mismatches', tol.length, exact.slice(0, 2).join(' | '));
    if (q.name === 'totals' || q.name === 'per_hour') console.log('  ', JSON.stringify(e.slice(0, 2)), JSON.stringify(a.slice(0, 2)));
  }
  await c.end();
} finally { await h.stop(); }
