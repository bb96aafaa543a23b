/**
 * What a session shows the session-scope catalog relations (pg_settings, pg_stat_activity,
 * pg_stat_user_tables): its settings, the process's sessions, live row counts.
 */
import type { RouterSession } from '../session.ts';
import { settingRows } from '../settings.ts';
import { SESSION_ACTIVITY } from './activity.ts';
import type { SessionSource } from './rows.ts';

/** The session source of `s` (catalog/rows.ts). */
export function catalogSession(s: RouterSession): SessionSource {
  return {
    user: s.user,
    settings: () => settingRows(s),
    activity: () => SESSION_ACTIVITY.listAll(),
    liveRows: (table) => s.ctx.olap.liveRows(table, s.catalog.version),
  };
}
