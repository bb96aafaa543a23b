/**
 * COPY … FROM STDIN / TO STDOUT (PostgreSQL 15 COPY): rows streamed through the wire
 * protocol's COPY sub-protocol (pgwire/), parsed by the text, CSV and binary formats (copy/),
 * inserted in batches through the INSERT path, all in one transaction.
 */
import { UnsupportedError } from '@stratum/shared';
import type { CopyPlan } from '../plan/types.ts';
import type { StatementResult } from '../pgwire/types.ts';
import type { RouterSession } from '../session.ts';
import type { Params } from './bind.ts';

/** Run a COPY plan. */
export async function runCopy(_s: RouterSession, plan: CopyPlan, _params: Params): Promise<StatementResult> {
  throw new UnsupportedError(`COPY ${plan.direction === 'from' ? 'FROM STDIN' : 'TO STDOUT'} is not supported yet`);
}
