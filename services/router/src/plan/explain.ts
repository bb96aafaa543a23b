/**
 * EXPLAIN: the lines of the plan object execute runs (never a second planning, as DuckDB's
 * `bind_explain.cpp`). The executor appends what only execution knows (watermarks, shard
 * placement for the parameters given, DuckDB's own plan, actual rows and time).
 */
import type { Expr } from '@stratum/shared';
import type { Finder, Plan } from './types.ts';

/** A short text of a compiled expression (EXPLAIN only). */
export function exprText(e: Expr): string {
  switch (e.k) {
    case 'const':
      return e.v === null ? 'NULL' : typeof e.v === 'string' ? `'${e.v}'` : String(e.v);
    case 'col':
      return e.rel ? `excluded.${e.field}` : e.field;
    case 'input':
      return `input${e.i + 1}`;
    case 'param':
      return `$${e.n}`;
    case 'call':
      if (e.args.length === 2 && !/^[a-z_]/.test(e.fn)) return `(${exprText(e.args[0] as Expr)} ${e.fn} ${exprText(e.args[1] as Expr)})`;
      if (e.args.length === 1 && !/^[a-z_]/.test(e.fn)) return `(${e.fn}${exprText(e.args[0] as Expr)})`;
      return `${e.fn}(${e.args.map(exprText).join(', ')})`;
    case 'cast':
      return `${exprText(e.arg)}::${e.t}`;
    case 'and':
    case 'or':
      return `(${e.args.map(exprText).join(` ${e.k.toUpperCase()} `)})`;
    case 'not':
      return `NOT ${exprText(e.arg)}`;
    case 'test':
      return `${exprText(e.arg)} IS ${e.op.replace('_', ' ').toUpperCase()}`;
    case 'in':
      return `${exprText(e.arg)} ${e.not ? 'NOT ' : ''}IN (${e.list.map(exprText).join(', ')})`;
    case 'any':
      return `${exprText(e.arg)} ${e.op} ${e.all ? 'ALL' : 'ANY'}(${exprText(e.array)})`;
    case 'array':
      return `ARRAY[${e.items.map(exprText).join(', ')}]`;
    case 'case':
      return 'CASE … END';
    case 'coalesce':
    case 'greatest':
    case 'least':
      return `${e.k}(${e.args.map(exprText).join(', ')})`;
    case 'nullif':
      return `nullif(${e.args.map(exprText).join(', ')})`;
    case 'distinct':
      return `${exprText(e.args[0])} IS ${e.not ? 'NOT ' : ''}DISTINCT FROM ${exprText(e.args[1])}`;
  }
}

function finderText(f: Finder): string {
  switch (f.by) {
    case 'key':
      return f.list
        ? `keys from array parameter $${f.list.param}`
        : `key ${f.keys.map((k) => `(${k.map(exprText).join(', ')})`).join(', ')}`;
    case 'index':
      return `index ${f.index} = (${f.eq.map(exprText).join(', ')})`;
    case 'range':
      return `range on ${f.index ?? 'the primary key'}${f.lo ? ` from ${exprText(f.lo.expr)}${f.lo.incl ? ' (incl.)' : ''}` : ''}${f.hi ? ` to ${exprText(f.hi.expr)}${f.hi.incl ? ' (incl.)' : ''}` : ''}`;
    case 'candidates':
      return `candidate keys: ${f.sql}`;
    case 'join':
      return `rows and inputs: ${f.sql}`;
    case 'scan':
      return 'every row';
  }
}

/** The plan's own lines (first line: what and where; then indented details). */
export function explainLines(plan: Plan): string[] {
  const lines: string[] = [];
  const modes = [...new Set(plan.tables.map((t) => `${t.mode} (${t.name})`))];
  switch (plan.kind) {
    case 'row_read':
      lines.push(`Stratum ${plan.reason}`);
      lines.push(`  rows: ${finderText(plan.finder)}`);
      if (plan.where) lines.push(`  recheck: ${exprText(plan.where)}`);
      break;
    case 'row_scan':
      lines.push(`Stratum ${plan.reason}`);
      lines.push(`  rows: ${finderText(plan.finder)}`);
      if (plan.where) lines.push(`  recheck: ${exprText(plan.where)}`);
      if (plan.finish) {
        const f = plan.finish;
        const order = f.order.map(
          (o) =>
            `${'output' in o.key ? `$${o.key.output + 1}` : exprText(o.key.expr)}${o.desc ? ' DESC' : ''}${o.nullsFirst !== o.desc ? (o.nullsFirst ? ' NULLS FIRST' : ' NULLS LAST') : ''}`,
        );
        const steps = f.aggregates
          ? [f.aggregates.map((a) => `${a.fn}(${a.arg ? exprText(a.arg) : '*'})`).join(', ')]
          : [`${f.output.length} output column${f.output.length === 1 ? '' : 's'}`];
        if (f.distinct) steps.push('DISTINCT');
        if (order.length) steps.push(`ORDER BY ${order.join(', ')}`);
        if (f.offset) steps.push(`OFFSET ${exprText(f.offset)}`);
        if (f.limit) steps.push(`LIMIT ${exprText(f.limit)}`);
        lines.push(`  finished by the router: ${steps.join('; ')}`);
      } else lines.push(`  finished in the router's DuckDB: ${plan.fallback.sql}`);
      break;
    case 'analytical':
      lines.push(`Stratum analytical read → ${plan.tier === 'router' ? "the router's DuckDB" : 'OLAP'} (${plan.reason})`);
      break;
    case 'local':
      lines.push(`Stratum expression evaluated by the router (${plan.output.length} column${plan.output.length === 1 ? '' : 's'})`);
      break;
    case 'insert':
      lines.push(`Stratum ${plan.reason}`);
      lines.push(`  rows: ${plan.source.kind === 'values' ? `${plan.source.rows.length} VALUES row(s)` : 'from a SELECT'}`);
      if (plan.source.kind === 'select') for (const l of explainLines(plan.source.plan)) lines.push(`    ${l}`);
      if (plan.onConflict) lines.push(`  on conflict (${plan.onConflict.index ?? 'primary key'}): do ${plan.onConflict.action}`);
      break;
    case 'update':
    case 'delete':
      lines.push(`Stratum ${plan.reason}`);
      lines.push(`  rows: ${finderText(plan.finder)}`);
      if (plan.where) lines.push(`  recheck at the row tier: ${exprText(plan.where)}`);
      for (const s of plan.set) lines.push(`  set ${s.field} = ${exprText(s.expr)}`);
      break;
    case 'ddl':
      lines.push(`Stratum ${plan.tag} → catalog (${plan.reason})`);
      break;
    case 'utility':
      lines.push(`Stratum ${plan.op} → ${plan.reason}`);
      break;
    case 'copy':
      lines.push(`Stratum COPY ${plan.direction} (${plan.reason})`);
      break;
    case 'explain':
      return explainLines(plan.inner);
  }
  if (modes.length > 0) lines.push(`  consistency: ${modes.join(', ')}, from table_consistency`);
  lines.push(`  read timestamp rule: ${plan.readTs}`);
  return lines;
}
