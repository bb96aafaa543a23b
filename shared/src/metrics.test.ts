import assert from 'node:assert/strict';
import { test } from 'node:test';
import { counter, registry } from './metrics.ts';

/** The value of one series of `name` in the registry's text, or undefined. */
async function series(name: string, labels: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{${labels}} `) || l === `${name} ${labels}`);
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('a counter sums increments per label set and the registry reads every one of them', async () => {
  const c = counter('stratum_test_summing_total', 'test', ['tier', 'mode']);
  c.inc({ tier: 'tx', mode: 'eventual' });
  c.inc({ mode: 'eventual', tier: 'tx' }, 2);
  c.inc({ tier: 'olap', mode: 'eventual' }, 0.5);
  assert.equal(await series('stratum_test_summing_total', 'tier="tx",mode="eventual"'), 3);
  assert.equal(await series('stratum_test_summing_total', 'tier="olap",mode="eventual"'), 0.5);
  // After a read, later increments add to what prom-client holds.
  c.inc({ tier: 'tx', mode: 'eventual' });
  assert.equal(await series('stratum_test_summing_total', 'tier="tx",mode="eventual"'), 4);
  const json = await c.get();
  assert.deepEqual(
    json.values.map((v) => [v.labels, v.value]),
    [
      [{ tier: 'tx', mode: 'eventual' }, 4],
      [{ tier: 'olap', mode: 'eventual' }, 0.5],
    ],
  );
  c.reset();
  c.inc({ tier: 'tx', mode: 'eventual' });
  assert.equal((await c.get()).values.find((v) => v.labels.tier === 'tx')?.value, 1);
});

test("a counter refuses what prom-client's refuses, at the inc that gives it", () => {
  const c = counter('stratum_test_refusing_total', 'test', ['engine']);
  assert.throws(() => c.inc({ engine: 'tx1' }, -1), /not possible to decrease/);
  assert.throws(() => c.inc({ engine: 'tx1', other: 'x' } as never), /other/);
});

test('a counter without labels counts too', async () => {
  const c = counter('stratum_test_plain_total', 'test');
  c.inc();
  c.inc(2);
  assert.equal((await c.get()).values[0]?.value, 3);
});
