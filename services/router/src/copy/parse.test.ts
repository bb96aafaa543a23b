/**
 * COPY format parsers and writers without servers: PostgreSQL 15's rules, messages and CONTEXT,
 * and independence from how the input is chunked. The same cases run against a real PostgreSQL in
 * copy.pg.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type CopyOptionInput, resolveCopyOptions } from './options.ts';
import { createCopyParser } from './parse.ts';
import type { CopyRow } from './row.ts';
import { createCopyWriter } from './write.ts';

interface Outcome {
  rows: [number, (string | null)[]][];
  error?: { code: string; message: string; where?: string; hint?: string };
}

function options(format: 'text' | 'csv' | 'binary', columns: string[], extra: CopyOptionInput[] = [], from = true) {
  return resolveCopyOptions([{ name: 'format', value: format }, ...extra], { from, columns });
}

/** Parse `input` fed as the given chunks; collect rows and the first error as the sink would see them. */
function parseChunks(
  chunks: Buffer[],
  columns: string[],
  format: 'text' | 'csv' | 'binary' = 'text',
  extra: CopyOptionInput[] = [],
  typeOids?: number[],
): Outcome {
  const parser = createCopyParser({
    table: 't',
    columns,
    options: options(format, columns, extra),
    ...(typeOids ? { typeOids } : {}),
  });
  const rows: [number, (string | null)[]][] = [];
  const take = (rs: CopyRow[]) => {
    for (const r of rs) rows.push([r.line, r.values]);
  };
  try {
    for (const c of chunks) {
      take(parser.push(c));
      parser.check();
    }
    take(parser.finish());
    parser.check();
    return { rows };
  } catch (e) {
    const err = e as { code: string; message: string; where?: string; hint?: string };
    const error: Outcome['error'] = { code: err.code, message: err.message };
    if (err.where !== undefined) error.where = err.where;
    if (err.hint !== undefined) error.hint = err.hint;
    return { rows, error };
  }
}

const parse = (input: string | Buffer, columns: string[], format: 'text' | 'csv' = 'text', extra: CopyOptionInput[] = []) =>
  parseChunks([typeof input === 'string' ? Buffer.from(input) : input], columns, format, extra);

/** Every 1- and 2-way split of `input` gives the same outcome as the whole. */
function assertChunkingInvariant(
  input: string | Buffer,
  columns: string[],
  format: 'text' | 'csv' = 'text',
  extra: CopyOptionInput[] = [],
) {
  const buf = typeof input === 'string' ? Buffer.from(input) : input;
  const whole = parseChunks([buf], columns, format, extra);
  for (let i = 0; i <= buf.length; i++) {
    assert.deepEqual(parseChunks([buf.subarray(0, i), buf.subarray(i)], columns, format, extra), whole, `split at ${i}`);
  }
  assert.deepEqual(
    parseChunks(
      [...buf].map((b) => Buffer.from([b])),
      columns,
      format,
      extra,
    ),
    whole,
    'byte by byte',
  );
  return whole;
}

describe('text format', () => {
  test('rows, NULL, escapes, line numbers', () => {
    const out = assertChunkingInvariant('1\tx\n2\t\\N\n3\ta\\tb\\nc\\\\d\\x41\\101\\q\n\n', ['a', 'b']);
    assert.deepEqual(out.error, {
      code: '22P04',
      message: 'missing data for column "b"',
      where: 'COPY t, line 4: ""',
    });
    assert.deepEqual(out.rows, [
      [1, ['1', 'x']],
      [2, ['2', null]],
      [3, ['3', 'a\tb\nc\\dAAq']],
    ]);
  });

  test('end marker, data after it ignored, no trailing newline', () => {
    assert.deepEqual(assertChunkingInvariant('x\n\n\\.\nignored\n', ['b']).rows, [
      [1, ['x']],
      [2, ['']],
    ]);
    assert.deepEqual(assertChunkingInvariant('abc\\.\n', ['b']).rows, [[1, ['abc']]]);
    assert.deepEqual(assertChunkingInvariant('last', ['b']).rows, [[1, ['last']]]);
    assert.deepEqual(assertChunkingInvariant('z\r\nq\r\n\\.\r\n', ['b']).rows, [
      [1, ['z']],
      [2, ['q']],
    ]);
    assert.deepEqual(assertChunkingInvariant('z\rq\r', ['b']).rows, [
      [1, ['z']],
      [2, ['q']],
    ]);
  });

  test('backslash-newline is a literal newline; multi-byte characters and octal/hex bytes', () => {
    assert.deepEqual(assertChunkingInvariant('a\\\nb\n', ['b']).rows, [[1, ['a\nb']]]);
    assert.deepEqual(assertChunkingInvariant('\\303\\251t\\xC3\\xA9 ünï€😀\n', ['b']).rows, [[1, ['été ünï€😀']]]);
  });

  test('format errors with PostgreSQL messages and CONTEXT', () => {
    assert.deepEqual(assertChunkingInvariant('1\tx\t1.5\n2\tyy\t3\t4\n', ['a', 'b', 'c']).error, {
      code: '22P04',
      message: 'extra data after last expected column',
      where: 'COPY t, line 2: "2\tyy\t3\t4"',
    });
    assert.deepEqual(assertChunkingInvariant('1\r\n2\n', ['a']).error, {
      code: '22P04',
      message: 'literal newline found in data',
      hint: 'Use "\\n" to represent newline.',
      where: 'COPY t, line 2',
    });
    assert.deepEqual(assertChunkingInvariant('1\n2\r', ['a']).error, {
      code: '22P04',
      message: 'literal carriage return found in data',
      hint: 'Use "\\r" to represent carriage return.',
      where: 'COPY t, line 2',
    });
    assert.deepEqual(assertChunkingInvariant('1\tx\\.\t1.5\n', ['a', 'b', 'c']).error, {
      code: '22P04',
      message: 'end-of-copy marker corrupt',
      where: 'COPY t, line 1',
    });
    assert.deepEqual(assertChunkingInvariant('x\n\\.', ['b']).error, {
      code: '22P04',
      message: 'end-of-copy marker corrupt',
      where: 'COPY t, line 2',
    });
    assert.deepEqual(assertChunkingInvariant('z\r\n\\.\n', ['b']).error, {
      code: '22P04',
      message: 'end-of-copy marker does not match previous newline style',
      where: 'COPY t, line 2',
    });
  });

  test('invalid UTF-8 in the input and from escapes', () => {
    assert.deepEqual(assertChunkingInvariant(Buffer.from('1\t\xff\n', 'latin1'), ['a', 'b']).error, {
      code: '22021',
      message: 'invalid byte sequence for encoding "UTF8": 0xff',
      where: 'COPY t, line 1',
    });
    assert.deepEqual(parse('1\t\\xff\n', ['a', 'b']).error, {
      code: '22021',
      message: 'invalid byte sequence for encoding "UTF8": 0xff',
      where: 'COPY t, line 1: "1\t\\xff"',
    });
    assert.equal(parse('\\0\n', ['a']).error?.code, '22021');
  });

  test('HEADER and HEADER MATCH', () => {
    assert.deepEqual(parse('a\tb\n1\tx\n', ['a', 'b'], 'text', [{ name: 'header', value: true }]).rows, [[2, ['1', 'x']]]);
    const match = [{ name: 'header', value: 'match' }];
    assert.deepEqual(parse('a\tb\n1\tx\n', ['a', 'b'], 'text', match).rows, [[2, ['1', 'x']]]);
    assert.deepEqual(parse('a\tc\n1\tx\n', ['a', 'b'], 'text', match).error, {
      code: '22P04',
      message: 'column name mismatch in header line field 2: got "c", expected "b"',
      where: 'COPY t, line 1: "a\tc"',
    });
    assert.equal(parse('a\n', ['a', 'b'], 'text', match).error?.message, 'wrong number of fields in header line: got 1, expected 2');
    assert.equal(
      parse('\\N\tb\n', ['a', 'b'], 'text', match).error?.message,
      'column name mismatch in header line field 1: got null value ("\\N"), expected "a"',
    );
  });

  test('custom DELIMITER and NULL', () => {
    assert.deepEqual(
      parse('1|NULL|\\|x\n', ['a', 'b', 'c'], 'text', [
        { name: 'delimiter', value: '|' },
        { name: 'null', value: 'NULL' },
      ]).rows,
      [[1, ['1', null, '|x']]],
    );
  });

  test('context values are cut at 100 bytes on a character boundary', () => {
    const long = `${'é'.repeat(60)}\tx\ty`;
    assert.equal(parse(`${long}\n`, ['a', 'b']).error?.where, `COPY t, line 1: "${'é'.repeat(50)}..."`);
  });
});

describe('csv format', () => {
  test('quoting, embedded newlines, NULL vs empty string, line numbers', () => {
    const out = assertChunkingInvariant('a,b\n1,"x\ny\nz"\n2,\n3,""\n"4",a"b""c"d\n', ['a', 'b'], 'csv', [{ name: 'header', value: true }]);
    assert.deepEqual(out, {
      rows: [
        [4, ['1', 'x\ny\nz']],
        [5, ['2', null]],
        [6, ['3', '']],
        [7, ['4', 'ab"cd']],
      ],
    });
  });

  test('errors: unterminated quote, extra data, unquoted CR', () => {
    assert.deepEqual(assertChunkingInvariant('1,"x\ny\nz,1.5\n', ['a', 'b', 'c'], 'csv').error, {
      code: '22P04',
      message: 'unterminated CSV quoted field',
      where: 'COPY t, line 1: "1,"x\ny\nz,1.5\n"',
    });
    assert.deepEqual(assertChunkingInvariant('1,"x\ny\nz",1.5,\n', ['a', 'b', 'c'], 'csv').error, {
      code: '22P04',
      message: 'extra data after last expected column',
      where: 'COPY t, line 1: "1,"x\ny\nz",1.5,"',
    });
    assert.deepEqual(assertChunkingInvariant('1,x\n2,y\rz\n', ['a', 'b'], 'csv').error, {
      code: '22P04',
      message: 'unquoted carriage return found in data',
      hint: 'Use quoted CSV field to represent carriage return.',
      where: 'COPY t, line 2',
    });
  });

  test('\\. is the end marker only alone on a line; data otherwise', () => {
    assert.deepEqual(assertChunkingInvariant('"\\."\n\\.x\n\\.\nignored\n', ['b'], 'csv').rows, [
      [1, ['\\.']],
      [2, ['\\.x']],
    ]);
    assert.deepEqual(assertChunkingInvariant('y\n\\.', ['b'], 'csv').rows, [
      [1, ['y']],
      [2, ['\\.']],
    ]);
  });

  test('DELIMITER, NULL, QUOTE, ESCAPE, FORCE_NOT_NULL, FORCE_NULL', () => {
    const extra: CopyOptionInput[] = [
      { name: 'delimiter', value: ';' },
      { name: 'null', value: 'NA' },
      { name: 'quote', value: "'" },
      { name: 'escape', value: '\\' },
    ];
    assert.deepEqual(assertChunkingInvariant("1;NA;'NA';'it\\'s;\\\\'\n", ['a', 'b', 'c', 'd'], 'csv', extra).rows, [
      [1, ['1', null, 'NA', "it's;\\"]],
    ]);
    const force = [
      { name: 'force_not_null', value: ['a'] },
      { name: 'force_null', value: ['b'] },
    ];
    assert.deepEqual(parse(',""\n', ['a', 'b'], 'csv', force).rows, [[1, ['', null]]]);
  });

  test('empty line: NULL for one column, missing data for more', () => {
    assert.deepEqual(parse('x\n\n', ['b'], 'csv').rows, [
      [1, ['x']],
      [2, [null]],
    ]);
    assert.deepEqual(parse('1,x\n\n', ['a', 'b'], 'csv').error, {
      code: '22P04',
      message: 'missing data for column "b"',
      where: 'COPY t, line 2: ""',
    });
  });

  test('random CSV round-trips through the writer under random chunking', () => {
    const value = fc.option(fc.string({ unit: fc.constantFrom('a', 'é', '😀', ',', '"', '\n', '\r', '\\', '.', ' ', 'N') }), { nil: null });
    fc.assert(
      fc.property(
        fc.array(fc.array(value, { minLength: 2, maxLength: 2 }), { maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (rows, cuts) => {
          const columns = [
            { name: 'a', typeOid: 25 },
            { name: 'b', typeOid: 25 },
          ];
          const opts = options('csv', ['a', 'b'], [], false);
          const w = createCopyWriter({ options: opts, columns });
          const data = Buffer.concat(rows.map((r) => w.row(r)));
          const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((x, y) => x - y);
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of points) {
            chunks.push(data.subarray(prev, p));
            prev = p;
          }
          chunks.push(data.subarray(prev));
          const out = parseChunks(chunks, ['a', 'b'], 'csv');
          assert.equal(out.error, undefined);
          assert.deepEqual(
            out.rows.map((r) => r[1]),
            rows,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('text writer', () => {
  test('escapes and round-trips through the parser', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(
            fc.option(fc.string({ unit: fc.constantFrom('a', 'é', '\t', '\n', '\r', '\\', '.', '\b', '\x01', 'N', '|') }), { nil: null }),
            {
              minLength: 3,
              maxLength: 3,
            },
          ),
        ),
        fc.constantFrom('\t', '|', ','),
        (rows, delimiter) => {
          const columns = ['a', 'b', 'c'].map((name) => ({ name, typeOid: 25 }));
          const w = createCopyWriter({
            options: options('text', ['a', 'b', 'c'], [{ name: 'delimiter', value: delimiter }], false),
            columns,
          });
          const data = Buffer.concat(rows.map((r) => w.row(r)));
          const out = parseChunks([data], ['a', 'b', 'c'], 'text', [{ name: 'delimiter', value: delimiter }]);
          assert.equal(out.error, undefined);
          assert.deepEqual(
            out.rows.map((r) => r[1]),
            rows,
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  test('header line and PostgreSQL escapes', () => {
    const columns = ['a b', 'c\td'].map((name) => ({ name, typeOid: 25 }));
    const w = createCopyWriter({ options: options('text', ['a b', 'c\td'], [{ name: 'header', value: true }], false), columns });
    assert.equal(w.header()?.toString(), 'a b\tc\\td\n');
    assert.equal(w.row(['x\\y', null]).toString(), 'x\\\\y\t\\N\n');
  });
});

describe('options', () => {
  const ctx = { from: true, columns: ['a', 'b'], relation: 't' };
  const err = (inputs: CopyOptionInput[], c = ctx) => {
    try {
      resolveCopyOptions(inputs, c);
      return null;
    } catch (e) {
      return [(e as { code: string }).code, (e as Error).message];
    }
  };
  test('PostgreSQL errors', () => {
    assert.deepEqual(err([{ name: 'format', value: 'xml' }]), ['22023', 'COPY format "xml" not recognized']);
    assert.deepEqual(
      err([
        { name: 'format', value: 'csv' },
        { name: 'format', value: 'csv' },
      ]),
      ['42601', 'conflicting or redundant options'],
    );
    assert.deepEqual(err([{ name: 'delimiter', value: '||' }]), ['0A000', 'COPY delimiter must be a single one-byte character']);
    assert.deepEqual(err([{ name: 'delimiter', value: 'a' }]), ['22023', 'COPY delimiter cannot be "a"']);
    assert.deepEqual(err([{ name: 'quote', value: "'" }]), ['0A000', 'COPY quote available only in CSV mode']);
    assert.deepEqual(
      err([
        { name: 'format', value: 'binary' },
        { name: 'null', value: 'x' },
      ]),
      ['42601', 'cannot specify NULL in BINARY mode'],
    );
    assert.deepEqual(
      err([
        { name: 'format', value: 'binary' },
        { name: 'header', value: true },
      ]),
      ['0A000', 'cannot specify HEADER in BINARY mode'],
    );
    assert.deepEqual(
      err([
        { name: 'format', value: 'csv' },
        { name: 'force_null', value: ['z'] },
      ]),
      ['42703', 'column "z" of relation "t" does not exist'],
    );
    assert.deepEqual(
      err(
        [
          { name: 'format', value: 'csv' },
          { name: 'force_null', value: ['b'] },
        ],
        { ...ctx, columns: ['a'], allColumns: ['a', 'b'] } as typeof ctx,
      ),
      ['42P10', 'FORCE_NULL column "b" not referenced by COPY'],
    );
    assert.deepEqual(err([{ name: 'header', value: 'match' }], { ...ctx, from: false }), [
      '0A000',
      'cannot use "match" with HEADER in COPY TO',
    ]);
    assert.deepEqual(err([{ name: 'header', value: 'maybe' }]), ['42601', 'header requires a Boolean value or "match"']);
    assert.deepEqual(err([{ name: 'oids', value: true }]), ['42601', 'option "oids" not recognized']);
  });
});
