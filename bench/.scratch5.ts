import { startPostgres } from '../shared/src/testing/postgres.ts';
import { loadFlights } from '../cli/src/load-flights.ts';
import pg from 'pg';
const rows = process.argv[2] ? Number(process.argv[2]) : 50000;
const h = await startPostgres();
try {
  const r = await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, rows, progress: true });
  console.log(r);
  const c = new pg.Client({ host: h.host, port: h.port, user: h.user, database: h.database });
  await c.connect();
  console.log((await c.query('select count(*), min(id), max(id), min(date)::text, max(date)::text from flights')).rows);
  console.log((await c.query('select * from airports where latitude is null or iata in (\'DBN\',\'PUW\')')).rows);
  try { await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, rows: 10 }); } catch (e) { console.log('expected:', String(e)); }
  await c.query('truncate flights; truncate airports; insert into flights values (5, null, null, null, null, null)');
  try { await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, rows: 10 }); } catch (e) { console.log('expected:', String(e)); }
  await c.query('truncate flights; truncate airports; alter table flights add constraint x check (delay < 100)');
  try { await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, rows: 10000 }); } catch (e) { console.log('expected:', String(e), (e as any).code); }
  await c.end();
} finally { await h.stop(); }
try { await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, rows: 10 }); } catch (e) { console.log('expected:', String(e)); }
