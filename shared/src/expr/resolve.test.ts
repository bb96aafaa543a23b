/**
 * Type resolution corner cases (PostgreSQL 15 chapter 10), each with PostgreSQL's answer
 * (checked against PostgreSQL 15 by the differential test services/router/src/analyze/expr.pg.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canCast, commonType, resolveFunction, resolveFunctionDetail, resolveOperator, resolveOperatorDetail } from './index.ts';

test('an unknown literal takes the type of the other operand (binary_oper_exact)', () => {
  assert.deepEqual(resolveOperator('+', ['integer', 'unknown']), { args: ['integer', 'integer'], t: 'integer' });
  assert.deepEqual(resolveOperator('=', ['unknown', 'bigint']), { args: ['bigint', 'bigint'], t: 'boolean' });
});

test('two unknown literals resolve to text where a string candidate exists, else are ambiguous', () => {
  assert.deepEqual(resolveOperator('=', ['unknown', 'unknown']), { args: ['text', 'text'], t: 'boolean' });
  assert.deepEqual(resolveOperator('||', ['unknown', 'unknown']), { args: ['text', 'text'], t: 'text' });
  assert.equal(resolveOperatorDetail('+', ['unknown', 'unknown']), 'ambiguous');
});

test('mixed integer widths use the cross-type operators; integer with numeric goes to numeric', () => {
  assert.deepEqual(resolveOperator('+', ['smallint', 'integer']), { args: ['smallint', 'integer'], t: 'integer' });
  assert.deepEqual(resolveOperator('+', ['integer', 'numeric']), { args: ['numeric', 'numeric'], t: 'numeric' });
  assert.deepEqual(resolveOperator('*', ['real', 'double']), { args: ['real', 'double'], t: 'double' });
  assert.deepEqual(resolveOperator('+', ['numeric', 'double']), { args: ['double', 'double'], t: 'double' });
});

test('text || non-text uses textanycat; no operator integer + text', () => {
  assert.deepEqual(resolveOperator('||', ['text', 'integer']), { args: ['text', 'integer'], t: 'text' });
  assert.equal(resolveOperatorDetail('+', ['integer', 'text']), 'none');
});

test('functions: preferred types, unknown arguments and polymorphism', () => {
  assert.deepEqual(resolveFunction('round', ['integer']), { args: ['double'], t: 'double' });
  assert.deepEqual(resolveFunction('round', ['numeric', 'integer']), { args: ['numeric', 'integer'], t: 'numeric' });
  assert.deepEqual(resolveFunction('length', ['unknown']), { args: ['text'], t: 'integer' });
  assert.deepEqual(resolveFunction('array_to_string', ['integer[]', 'unknown']), { args: ['integer[]', 'text'], t: 'text' });
  assert.deepEqual(resolveFunction('concat', ['unknown', 'integer']), { args: ['text', 'integer'], t: 'text' });
  assert.equal(resolveFunctionDetail('nosuch', ['integer'], false), 'none');
});

test('casts: implicit, assignment, explicit and I/O conversion', () => {
  assert.equal(canCast('integer', 'bigint', 'implicit'), true);
  assert.equal(canCast('bigint', 'integer', 'implicit'), false);
  assert.equal(canCast('bigint', 'integer', 'assignment'), true);
  assert.equal(canCast('integer', 'text', 'implicit'), false);
  assert.equal(canCast('integer', 'text', 'assignment'), true);
  assert.equal(canCast('text', 'integer', 'assignment'), false);
  assert.equal(canCast('text', 'integer', 'explicit'), true);
  assert.equal(canCast('integer', 'boolean', 'assignment'), false);
  assert.equal(canCast('integer', 'boolean', 'explicit'), true);
  assert.equal(canCast('integer[]', 'bigint[]', 'implicit'), true);
  assert.equal(canCast('integer', 'uuid', 'explicit'), false);
  assert.equal(canCast('unknown', 'uuid', 'implicit'), true);
});

test('common type: preferred type wins, all unknown is text, categories must match', () => {
  assert.equal(commonType(['integer', 'numeric'], 'CASE'), 'numeric');
  assert.equal(commonType(['integer', 'double', 'numeric'], 'CASE'), 'double');
  assert.equal(commonType(['unknown', 'unknown'], 'CASE'), 'text');
  assert.equal(commonType(['unknown', 'integer'], 'CASE'), 'integer');
  assert.equal(commonType(['varchar', 'text'], 'CASE'), 'varchar');
  assert.equal(commonType(['char', 'varchar'], 'COALESCE'), 'char');
  assert.equal(commonType(['date', 'timestamptz'], 'CASE'), 'timestamptz');
  assert.throws(() => commonType(['integer', 'text'], 'CASE'), { code: '42804', message: 'CASE types integer and text cannot be matched' });
});
