/**
 * What a session shows the session-scope catalog relations (pg_settings, pg_stat_activity,
 * pg_stat_user_tables): its settings, the process's sessions, live row counts.
 */
import type { RouterSession } from '../session.ts';
import { SESSION_ACTIVITY } from './activity.ts';
import type { SessionSource, SettingInfo } from './rows.ts';

/** pg_settings rows of a session's settings (every one a user setting of the session). */
function settingsOf(s: RouterSession): SettingInfo[] {
  return Object.entries(s.settings)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, setting]) => ({
      name,
      setting,
      unit: null,
      category: 'Client Connection Defaults',
      short_desc: '',
      extra_desc: null,
      context: 'user',
      vartype: 'string',
      source: 'session',
      min_val: null,
      max_val: null,
      enumvals: null,
      boot_val: setting,
      reset_val: setting,
      sourcefile: null,
      sourceline: null,
      pending_restart: false,
    }));
}

/** The session source of `s` (catalog/rows.ts). */
export function catalogSession(s: RouterSession): SessionSource {
  return {
    user: s.user,
    settings: () => settingsOf(s),
    activity: () => SESSION_ACTIVITY.list(),
    liveRows: (table) => s.ctx.olap.liveRows(table, s.catalog.version),
  };
}
