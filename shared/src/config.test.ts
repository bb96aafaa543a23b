/** Config validation: errors name the file, line, path and what was expected; env overrides; docs stay generated. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderConfigDocs } from '../../scripts/gen-config-docs.ts';
import { parseConfigText } from './config.ts';
import { ConfigError } from './errors.ts';

const env = {};

test('defaults when the file is empty', () => {
  const c = parseConfigText('', 'stratum.yaml', env);
  assert.equal(c.cluster.partitions, 16);
  assert.equal(c.router.pg.port, 5433);
  assert.equal(c.cluster.bus, 'local');
});

test('unknown keys are named with their path, line and the keys expected there', () => {
  const text = 'cluster:\n  partitions: 8\n  partitons: 9\n';
  assert.throws(
    () => parseConfigText(text, 'conf/stratum.yaml', env),
    (e: Error) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^conf\/stratum\.yaml:3:\d+: cluster\.partitons: unknown key "partitons" \(expected one of: .*partitions/);
      return true;
    },
  );
});

test('wrong types name the path and what was expected', () => {
  assert.throws(
    () => parseConfigText('cluster:\n  partitions: many\n', 's.yaml', env),
    /s\.yaml:2:\d+: cluster\.partitions: .*expected number/i,
  );
  assert.throws(
    () => parseConfigText('cluster:\n  bus: kafka://x\n', 's.yaml', env),
    /cluster\.bus: expected "local" or nats:\/\/HOST:PORT/,
  );
  assert.throws(() => parseConfigText('tables:\n  t:\n    conflict: maybe\n', 's.yaml', env), /tables\.t\.conflict/);
});

test('invalid YAML is reported with its position', () => {
  assert.throws(() => parseConfigText('cluster: [unclosed\n', 'bad.yaml', env), /^ConfigError|bad\.yaml:\d+:\d+: invalid YAML/);
  assert.throws(() => parseConfigText('- a\n- b\n', 'list.yaml', env), /list\.yaml: expected a mapping/);
});

test('STRATUM_* environment variables override the file', () => {
  const c = parseConfigText('router:\n  pg: { port: 6000 }\n', 's.yaml', {
    STRATUM_ROUTER__PG__PORT: '6543',
    STRATUM_CLUSTER__BUS: 'nats://127.0.0.1:4222',
  });
  assert.equal(c.router.pg.port, 6543);
  assert.equal(c.cluster.bus, 'nats://127.0.0.1:4222');
  assert.throws(() => parseConfigText('', 's.yaml', { STRATUM_NOPE: '1' }), /nope: unknown key/);
});

test('docs/configuration.md is generated from the schema and up to date', () => {
  const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  assert.equal(committed, renderConfigDocs(), 'run `npm run docs:config`');
});
