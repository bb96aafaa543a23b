#!/usr/bin/env node
// Runs every test file with Node's built-in test runner (Node 20 needs explicit paths).
//   node scripts/test.mjs            all tests
//   node scripts/test.mjs --quick    skip tests that start servers or processes (*.nats.test.ts, *.e2e.test.ts)
//   node scripts/test.mjs FILTER     only files whose path contains FILTER
// Installs what the tests need from the OS when missing (Debian's packages: nats-server, chrony, PostgreSQL 15,
// and the client tools the tool tests in cli/src/tools/ run: JDBC, ODBC, SQLAlchemy).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const filters = args.filter((a) => !a.startsWith('--'));

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'data' || name === 'scratch') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

let files = walk(root, []).sort();
if (quick) files = files.filter((f) => !/\.(nats|e2e)\.test\.ts$/.test(f));
if (filters.length) files = files.filter((f) => filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: 'ignore' }).status === 0;
}
/** Whether PostgreSQL 15's server binaries are there (the reference engine the tests compare with). */
function havePostgres() {
  if (process.env.STRATUM_PG_BIN && existsSync(join(process.env.STRATUM_PG_BIN, 'initdb'))) return true;
  return existsSync('/usr/lib/postgresql/15/bin/initdb') && existsSync('/usr/lib/postgresql/15/bin/pg_ctl');
}
// Debian packages the tests run for real: nats-server (bus), chrony (the clock exporter's chronyd -x),
// sysbench (a real client's OLTP workload), PostgreSQL 15 (the reference engine; psql and pgbench).
const missing = [
  ['nats-server', 'nats-server'],
  ['chronyd', 'chrony'],
  ['sysbench', 'sysbench'],
  ['psql', 'postgresql-client-15'],
  ['pgbench', 'postgresql-15'],
].filter(([cmd]) => !quick && !have(cmd));
if (!quick && !havePostgres()) missing.push(['initdb', 'postgresql-15']);
/** Whether a Debian package is installed (for packages that put no command on PATH). */
function haveDeb(pkg) {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's ${Status} field
  return spawnSync('dpkg-query', ['-W', '-f', '${Status}', pkg], { encoding: 'utf8' }).stdout?.includes('install ok installed') ?? false;
}
// The tool tests (cli/src/tools/): pgjdbc on a JRE, psqlODBC with unixODBC's isql and pyodbc,
// SQLAlchemy 1.4 over psycopg2 for Debian's /usr/bin/python3.
const toolPackages = [
  'default-jre-headless',
  'libpostgresql-jdbc-java',
  'odbc-postgresql',
  'unixodbc',
  'python3-pyodbc',
  'python3-sqlalchemy',
  'python3-psycopg2',
];
if (!quick && files.some((f) => f.includes('/tools/'))) {
  for (const pkg of toolPackages) if (!haveDeb(pkg)) missing.push([pkg, pkg]);
}
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))].join(' ');
  console.error(`installing missing Debian packages: ${pkgs}`);
  try {
    execFileSync('sh', ['-c', `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs}`], {
      stdio: 'inherit',
    });
  } catch {
    console.error(`could not install ${pkgs} (apt-get failed); the tests that need them report the cause or skip`);
  }
}
if (!existsSync(join(root, 'node_modules/.bin/tsx'))) {
  console.error('dependencies are missing: run `npm install` first');
  process.exit(1);
}

console.error(`running ${files.length} test files`);
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, STRATUM_LOG_LEVEL: process.env.STRATUM_LOG_LEVEL ?? 'silent' },
});
process.exit(r.status ?? 1);
