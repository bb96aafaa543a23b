import { startPostgres } from '../shared/src/testing/postgres.ts';
import { loadFlights } from '../cli/src/load-flights.ts';
const h = await startPostgres();
try {
  const r = await loadFlights({ host: h.host, port: h.port, user: h.user, database: h.database, progress: true, batchRows: Number(process.argv[2] ?? 1000), connections: Number(process.argv[3] ?? 4) });
  console.log(r);
} finally { await h.stop(); }
