import { startPostgres } from '../shared/src/testing/postgres.ts';
import { loadFlights } from '../cli/src/load-flights.ts';
const h = await startPostgres();
try {
  const r = await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, rows: 1000000 });
  console.log(r);
} finally { await h.stop(); }
