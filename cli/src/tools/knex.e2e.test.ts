/**
 * Knex (npm `knex` over `pg`) migrations, run up and down the way an application runs them
 * (issue 11 item 3, "one Node ORM or migration tool"): `migrate.latest()` of three migrations
 * (tables with `increments` keys, a unique column, a foreign key with ON DELETE CASCADE,
 * `timestamps()` defaulting to now(), literal defaults, an index, an added column, a view),
 * `migrate.list()` and `currentVersion()`, schema checks (`hasTable`, `hasColumn`,
 * `columnInfo`, which reads information_schema), a few queries, then `migrate.rollback()` one
 * batch and all the way down. Knex keeps its own `knex_migrations` and `knex_migrations_lock`
 * tables and locks with SELECT … FOR UPDATE.
 *
 * The transcript of each step against Stratum must equal the one against a throw-away
 * PostgreSQL 15 given the same schema. Knex runs in this process (it is a library); the
 * migrations are given through a `migrationSource`, Knex's documented way to supply them
 * without files. Normalized: the migration time of `knex_migrations` rows is not printed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import knexFactory, { type Knex } from 'knex';
import { maybeWriteCorpus, npmVersion } from './corpus.ts';
import { type Pair, startPair, type Target } from './pair.ts';

/** Knex's migration shape: a name and up/down functions. */
interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const MIGRATIONS: Migration[] = [
  {
    name: '20240101000000_projects_and_tasks',
    async up(k) {
      await k.schema.createTable('kx_projects', (t) => {
        t.increments('id');
        t.string('name', 100).notNullable().unique();
        t.boolean('active').notNullable().defaultTo(true);
        t.timestamps(true, true);
      });
      await k.schema.createTable('kx_tasks', (t) => {
        t.bigIncrements('id');
        t.integer('project_id').notNullable().references('id').inTable('kx_projects').onDelete('CASCADE');
        t.string('title').notNullable();
        t.integer('priority').notNullable().defaultTo(0).index();
        t.text('notes');
      });
    },
    async down(k) {
      await k.schema.dropTable('kx_tasks');
      await k.schema.dropTable('kx_projects');
    },
  },
  {
    name: '20240102000000_task_due_on',
    async up(k) {
      await k.schema.alterTable('kx_tasks', (t) => {
        t.date('due_on');
        t.decimal('estimate', 6, 1).defaultTo(1.5);
      });
    },
    async down(k) {
      await k.schema.alterTable('kx_tasks', (t) => {
        t.dropColumn('estimate');
        t.dropColumn('due_on');
      });
    },
  },
  {
    name: '20240103000000_open_tasks_view',
    async up(k) {
      await k.schema.createView('kx_open_tasks', (v) => {
        v.columns(['project', 'title']);
        v.as(
          k('kx_tasks')
            .join('kx_projects', 'kx_projects.id', 'kx_tasks.project_id')
            .select('kx_projects.name', 'kx_tasks.title')
            .where('kx_projects.active', true),
        );
      });
    },
    async down(k) {
      await k.schema.dropView('kx_open_tasks');
    },
  },
];

const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => MIGRATIONS,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};

/** Run the whole up-and-down story against `t` and return its transcript, one line a step. */
async function story(t: Target): Promise<string[]> {
  const k = knexFactory({ client: 'pg', connection: t.url, pool: { min: 0, max: 2 }, migrations: { migrationSource } });
  const lines: string[] = [];
  const log = (step: string, v: unknown) => lines.push(`${step}: ${JSON.stringify(v)}`);
  try {
    log('latest', await k.migrate.latest());
    log('currentVersion', await k.migrate.currentVersion());
    const [done, pending] = (await k.migrate.list()) as [{ name: string }[], Migration[]];
    log('list', [done.map((m) => m.name), pending.map((m) => m.name)]);
    log('hasTable kx_tasks', await k.schema.hasTable('kx_tasks'));
    log('hasColumn kx_tasks.due_on', await k.schema.hasColumn('kx_tasks', 'due_on'));
    log('columnInfo kx_tasks', await k('kx_tasks').columnInfo());
    log('columnInfo kx_projects', await k('kx_projects').columnInfo());
    const projects = await k('kx_projects').insert([{ name: 'alpha' }, { name: 'beta', active: false }], ['id', 'name', 'active']);
    log('insert returning', projects);
    const ids = await k('kx_tasks').insert(
      [
        { project_id: projects[0].id, title: 'write', priority: 2, due_on: '2024-05-01' },
        { project_id: projects[0].id, title: 'test' },
        { project_id: projects[1].id, title: 'ship', priority: 1, notes: 'later' },
      ],
      'id',
    );
    log('task ids', ids);
    log('view', await k('kx_open_tasks').select('*').orderBy('title'));
    log(
      'join',
      await k('kx_tasks as t')
        .join('kx_projects as p', 'p.id', 't.project_id')
        .select('p.name', 't.title', 't.priority', 't.estimate', k.raw("to_char(t.due_on, 'YYYY-MM-DD') AS due"))
        .where('t.priority', '>=', 1)
        .orderBy('t.id'),
    );
    log('count by project', await k('kx_tasks').select('project_id').count({ n: '*' }).groupBy('project_id').orderBy('project_id'));
    log('update', await k('kx_tasks').where({ title: 'test' }).update({ priority: 5 }));
    log(
      'transaction',
      await k.transaction(async (trx) => {
        await trx('kx_tasks').where('priority', '<', 2).del();
        return trx('kx_tasks').count({ n: '*' }).first();
      }),
    );
    log('cascade delete', await k('kx_projects').where({ name: 'beta' }).del());
    log('tasks left', await k('kx_tasks').select('title').orderBy('id'));
    log('rollback one batch', await k.migrate.rollback());
    log('after rollback: hasTable kx_tasks', await k.schema.hasTable('kx_tasks'));
    log('after rollback: list', (await k.migrate.list())[1].length);
    log('latest again', await k.migrate.latest());
    log('down one', await k.migrate.down());
    log('hasColumn kx_tasks.due_on after down', await k.schema.hasColumn('kx_tasks', 'due_on'));
    log('rollback all', await k.migrate.rollback(undefined, true));
    log('after rollback all: hasTable kx_projects', await k.schema.hasTable('kx_projects'));
    log('currentVersion after all', await k.migrate.currentVersion());
    log(
      'knex_migrations',
      (await k('knex_migrations').select('name', 'batch').orderBy('id')).map(
        (r: { name: string; batch: number }) => `${r.batch} ${r.name}`,
      ),
    );
    return lines;
  } catch (e) {
    throw new Error(`knex against ${t.engine} failed after:\n${lines.join('\n')}\n${(e as Error).message}`, { cause: e });
  } finally {
    await k.destroy();
  }
}

describe('Knex migrations', { timeout: 300_000 }, () => {
  let pair: Pair;
  let expected: string[];
  before(async () => {
    pair = await startPair();
    expected = await story(pair.postgres);
  });
  after(async () => {
    if (pair === undefined) return;
    maybeWriteCorpus(
      'knex',
      [`knex ${npmVersion('knex')} over pg ${npmVersion('pg')} (npm); ran the migrations of knex.e2e.test.ts up and down.`],
      await pair.statements(),
    );
    await pair.close();
  });

  test('the migrations run up and down on PostgreSQL 15 (the reference is complete)', () => {
    assert.ok(expected.includes('after rollback all: hasTable kx_projects: false'), expected.join('\n'));
  });

  test('the migrations run up and down on Stratum as on PostgreSQL 15', async () => {
    assert.deepEqual(await story(pair.stratum), expected);
  });
});
