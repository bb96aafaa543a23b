/**
 * The `stratum` command (commander). `stratum up` runs the embedded form; `stratum
 * tx-engine|ingestion|olap-shard|router|clock --config stratum.yaml` run one service of
 * the distributed form; `stratum load flights` loads the demo dataset over pgwire;
 * `stratum status` prints a running server's watermarks and health; `stratum engine
 * decommission ID` drains a TX engine and releases the watermark it holds back.
 */

import {
  ConfigError,
  defaultConfig,
  enableProcessMetrics,
  loadConfigFile,
  rootLogger,
  runUntilSignal,
  type StratumConfig,
} from '@stratum/shared';
import { Command, InvalidArgumentError } from 'commander';
import { type ClusterStatus, decommissionEngine, formatStatus } from './admin.ts';
import { logUnhandledRejections, startEmbedded } from './embedded.ts';
import { reloadConfig, startDistributed } from './wiring.ts';

logUnhandledRejections();

const program = new Command();
program.name('stratum').description('Stratum: event-driven three-tier HTAP database').version('0.1.0');

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a TCP port number (0-65535)');
  return n;
}

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive whole number');
  return n;
}

function loadConfig(file: string | undefined): StratumConfig {
  return file ? loadConfigFile(file) : defaultConfig();
}

async function fail(e: unknown): Promise<never> {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`stratum: ${msg}\n`);
  process.exit(e instanceof ConfigError ? 2 : 1);
}

program
  .command('up')
  .description('run all five services in one process (embedded form)')
  .option('--config <file>', 'stratum.yaml to read (flags below override it)')
  .option('--data-dir <dir>', 'data directory (default ./data)')
  .option('--pg-port <n>', 'PostgreSQL wire protocol port (default 5433)', port)
  .option('--http-port <n>', 'HTTP API port (default 7480)', port)
  .option('--bus <url>', 'change bus: local (default), nats://HOST:PORT or kafka://HOST:PORT')
  .option(
    '--threads <n>',
    'threads: 1 = all tiers on one; 2+ = bus, ingestion and OLAP on a pipeline thread (default 1; docs/architecture.md "Threads")',
    positive,
  )
  .action(async (o: { config?: string; dataDir?: string; pgPort?: number; httpPort?: number; bus?: string; threads?: number }) => {
    const log = rootLogger();
    try {
      const cfg = loadConfig(o.config);
      if (o.dataDir) cfg.data_dir = o.dataDir;
      if (o.pgPort !== undefined) cfg.router.pg.port = o.pgPort;
      if (o.httpPort !== undefined) cfg.router.http.port = o.httpPort;
      if (o.threads !== undefined) cfg.threads = o.threads;
      if (o.bus) {
        if (!/^(local|nats:\/\/[^/\s]+|kafka:\/\/[^/\s]+)$/.test(o.bus)) {
          throw new ConfigError(`--bus: expected "local", nats://HOST:PORT or kafka://HOST:PORT[,HOST:PORT], got "${o.bus}"`);
        }
        cfg.cluster.bus = o.bus;
      }
      enableProcessMetrics();
      const up = await startEmbedded(cfg, log, o.config);
      process.on('SIGHUP', () => reloadConfig(o.config, log));
      const host = cfg.router.pg.host;
      process.stdout.write(
        `Stratum is up (embedded, bus ${cfg.cluster.bus}, ${cfg.threads} thread${cfg.threads === 1 ? '' : 's'}, data in ${cfg.data_dir}).\n` +
          `  SQL:  psql "host=${host} port=${up.pgPort} user=stratum dbname=${cfg.router.database}"\n` +
          `  HTTP: http://${cfg.router.http.host}:${up.httpPort}/query  (health: /health, metrics: /metrics)\n` +
          `Press Ctrl-C to stop.\n`,
      );
      const code = await runUntilSignal(up.handles, log);
      process.stdout.write('Stratum stopped.\n');
      process.exit(code);
    } catch (e) {
      await fail(e);
    }
  });

for (const svc of ['tx-engine', 'ingestion', 'olap-shard', 'router', 'clock'] as const) {
  program
    .command(svc)
    .description(`run the ${svc} service alone (distributed form)`)
    .requiredOption('--config <file>', 'cluster config (stratum.yaml)')
    .option('--id <id>', 'which entry of the cluster config this process is (default: the first)')
    .action(async (o: { config: string; id?: string }) => {
      const log = rootLogger().child({ svc });
      try {
        const cfg = loadConfig(o.config);
        enableProcessMetrics();
        const handles = await startDistributed(svc, cfg, o.config, o.id, log);
        process.on('SIGHUP', () => reloadConfig(o.config, log));
        process.stdout.write(`${svc}${o.id ? ` ${o.id}` : ''} listening (config ${o.config})\n`);
        process.exit(await runUntilSignal(handles, log));
      } catch (e) {
        await fail(e);
      }
    });
}

program
  .command('load')
  .description('load a demo dataset through the write path over pgwire (COPY FROM STDIN, parallel connections)')
  .argument('<dataset>', 'dataset name: flights')
  .option('--rows <n>', 'load only the first N rows (file order)', positive)
  .option('--host <host>', 'server host', '127.0.0.1')
  .option('--pg-port <n>', 'server port', port, 5433)
  .option('--user <user>', 'user name', 'stratum')
  .option('--database <db>', 'database name', 'stratum')
  .option('--connections <n>', 'parallel connections', positive, 4)
  .option('--batch <n>', 'rows per COPY data message', positive, 1000)
  .action(
    async (
      dataset: string,
      o: { rows?: number; host: string; pgPort: number; user: string; database: string; connections: number; batch: number },
    ) => {
      try {
        if (dataset !== 'flights') throw new Error(`unknown dataset "${dataset}" (available: flights)`);
        const { loadFlights } = await import('./load-flights.ts');
        await loadFlights({
          host: o.host,
          port: o.pgPort,
          user: o.user,
          database: o.database,
          ...(o.rows !== undefined ? { rows: o.rows } : {}),
          batchRows: o.batch,
          connections: o.connections,
          progress: true,
        });
        process.exit(0);
      } catch (e) {
        await fail(e);
      }
    },
  );

program
  .command('status')
  .description('print watermarks, stalled stream pairs and OLAP watermarks of a running server (router GET /health and /status)')
  .option('--host <host>', 'HTTP host', '127.0.0.1')
  .option('--http-port <n>', 'HTTP port', port, 7480)
  .option('--json', 'print the raw JSON')
  .action(async (o: { host: string; httpPort: number; json?: boolean }) => {
    const base = `http://${o.host}:${o.httpPort}`;
    try {
      const h = await fetch(`${base}/health`);
      const health = (await h.json()) as Record<string, unknown>;
      const s = await fetch(`${base}/status`);
      const st = (await s.json()) as ClusterStatus;
      process.stdout.write(o.json ? `${JSON.stringify({ health, status: st }, null, 2)}\n` : formatStatus(health, st));
      process.exit(h.ok && s.ok ? 0 : 1);
    } catch (e) {
      await fail(new Error(`cannot reach ${base}: ${(e as Error).message}`));
    }
  });

program
  .command('config')
  .description('configuration of running processes')
  .command('reload')
  .description(
    'make running processes re-read their config file (like SIGHUP): per-table options and table_consistency change at once; an invalid file changes nothing',
  )
  .option('--config <file>', 'distributed form: reload every process listed in this stratum.yaml (router and services)')
  .option('--host <host>', 'embedded form: HTTP host of the server', '127.0.0.1')
  .option('--http-port <n>', 'embedded form: HTTP port of the server', port, 7480)
  .action(async (o: { config?: string; host: string; httpPort: number }) => {
    try {
      const targets: { name: string; url: string }[] = [];
      if (o.config) {
        const cfg = loadConfig(o.config);
        const h = cfg.router.http;
        targets.push({ name: 'router', url: `http://${h.host === '0.0.0.0' ? '127.0.0.1' : h.host}:${h.port}` });
        for (const e of cfg.cluster.tx_engines) targets.push({ name: `tx-engine ${e.id}`, url: e.url });
        for (const e of cfg.cluster.ingestion) targets.push({ name: `ingestion ${e.id}`, url: e.url });
        for (const e of cfg.cluster.olap_shards) targets.push({ name: `olap-shard ${e.id}`, url: e.url });
      } else targets.push({ name: 'server', url: `http://${o.host}:${o.httpPort}` });
      let code = 0;
      for (const t of targets) {
        try {
          const r = await fetch(`${t.url}/admin/reload`, { method: 'POST' });
          const body = (await r.json()) as { message?: string };
          process.stdout.write(`${t.name}: ${r.ok ? 'reloaded' : 'REFUSED'}: ${body.message ?? r.status}\n`);
          if (!r.ok) code = Math.max(code, 2);
        } catch (e) {
          process.stdout.write(`${t.name}: UNREACHABLE (${t.url}): ${(e as Error).message}\n`);
          code = Math.max(code, 1);
        }
      }
      process.exit(code);
    } catch (e) {
      await fail(e);
    }
  });

program
  .command('engine')
  .description('TX engine administration')
  .command('decommission <id>')
  .description('refuse new transactions on a TX engine, drain its outbox, and release the watermark it holds back')
  .requiredOption('--config <file>', 'stratum.yaml of the cluster')
  .option('--force', 'the engine is gone for good (disk lost): release it without draining; its unpublished transactions are lost')
  .option('--timeout-ms <n>', 'how long to wait for the drain', positive, 120_000)
  .action(async (id: string, o: { config: string; force?: boolean; timeoutMs: number }) => {
    try {
      const cfg = loadConfig(o.config);
      const r = await decommissionEngine(cfg, id, {
        force: o.force === true,
        timeoutMs: o.timeoutMs,
        progress: (line) => process.stderr.write(`${line}\n`),
      });
      process.stdout.write(`tx-engine ${id} decommissioned${r.forced ? ' (forced)' : ''}\n`);
      process.exit(0);
    } catch (e) {
      await fail(e);
    }
  });

await program.parseAsync(process.argv);
