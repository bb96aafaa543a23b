/**
 * chrony exporter (issue 5 item 5, DESIGN §8): a clock primary reads `chronyc -c tracking`
 * (chrony 4's 14 CSV fields) and publishes them as Prometheus gauges through prom-client, so
 * the primary's own error (offset, root delay and dispersion) is visible next to every node's ε.
 *
 * Field order (chrony 4 `chronyc -c tracking`, see chronyc(1) "tracking"): reference ID (hex),
 * reference name or address, stratum, reference time (s since epoch), system time offset (s;
 * positive = the system clock is fast), last offset (s), RMS offset (s), frequency (ppm),
 * residual frequency (ppm), skew (ppm), root delay (s), root dispersion (s), update interval
 * (s), leap status (Normal, Insert second, Delete second, Not synchronised).
 */
import { execFile } from 'node:child_process';
import { counter, gauge } from '@stratum/shared';

/** One `chronyc -c tracking` reading, in chrony's units (seconds, ppm). */
export interface ChronyTracking {
  /** Reference ID, 8 hex digits (e.g. 7F7F0101 for the local reference). */
  refId: string;
  /** Reference name or address ('' for a local reference). */
  refName: string;
  stratum: number;
  /** Time of the last measurement from the reference (s since epoch). */
  refTime: number;
  /** Current offset of the system clock from true time (s; positive = fast). */
  systemTimeOffset: number;
  lastOffset: number;
  rmsOffset: number;
  /** Frequency error of the system clock (ppm; positive = fast). */
  frequencyPpm: number;
  residualFrequencyPpm: number;
  skewPpm: number;
  /** Total network path delay to the stratum-1 computer (s). */
  rootDelay: number;
  /** Total dispersion accumulated through all computers back to stratum 1 (s). */
  rootDispersion: number;
  updateInterval: number;
  leapStatus: 'Normal' | 'Insert second' | 'Delete second' | 'Not synchronised';
}

const LEAP = ['Normal', 'Insert second', 'Delete second', 'Not synchronised'] as const;

/**
 * Parse chrony 4's `chronyc -c tracking` output (one CSV line of 14 fields).
 * @throws Error naming the field and the value when the line is not that.
 */
export function parseTracking(line: string): ChronyTracking {
  const f = line.trim().split(',');
  if (f.length !== 14)
    throw new Error(`chronyc -c tracking: expected 14 CSV fields (chrony 4), got ${f.length}: "${line.trim().slice(0, 200)}"`);
  const num = (i: number, name: string): number => {
    const v = Number(f[i]);
    if (f[i] === '' || !Number.isFinite(v)) throw new Error(`chronyc -c tracking: field ${i + 1} (${name}) is not a number: "${f[i]}"`);
    return v;
  };
  if (!/^[0-9A-Fa-f]{8}$/.test(f[0] ?? '')) throw new Error(`chronyc -c tracking: field 1 (reference ID) is not 8 hex digits: "${f[0]}"`);
  const leap = f[13] as ChronyTracking['leapStatus'];
  if (!LEAP.includes(leap)) throw new Error(`chronyc -c tracking: field 14 (leap status) is unknown: "${f[13]}"`);
  return {
    refId: (f[0] as string).toUpperCase(),
    refName: f[1] ?? '',
    stratum: num(2, 'stratum'),
    refTime: num(3, 'reference time'),
    systemTimeOffset: num(4, 'system time'),
    lastOffset: num(5, 'last offset'),
    rmsOffset: num(6, 'RMS offset'),
    frequencyPpm: num(7, 'frequency'),
    residualFrequencyPpm: num(8, 'residual frequency'),
    skewPpm: num(9, 'skew'),
    rootDelay: num(10, 'root delay'),
    rootDispersion: num(11, 'root dispersion'),
    updateInterval: num(12, 'update interval'),
    leapStatus: leap,
  };
}

/** Where and how to run chronyc. */
export interface ChronycOptions {
  /** chronyc binary (default `chronyc` on PATH). */
  chronyc?: string;
  /** chronyd command socket or host (`chronyc -h`); default chronyc's own (/run/chrony/chronyd.sock). */
  host?: string;
  /** Give up after this long (ms). Default 2,000. */
  timeoutMs?: number;
}

/**
 * Run `chronyc -c tracking` once and parse it.
 * @throws Error with chronyc's message when it cannot reach chronyd or prints something else.
 */
export function readTracking(o: ChronycOptions = {}): Promise<ChronyTracking> {
  const args = [...(o.host ? ['-h', o.host] : []), '-c', 'tracking'];
  return new Promise((resolve, reject) => {
    execFile(o.chronyc ?? 'chronyc', args, { timeout: o.timeoutMs ?? 2000 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`chronyc ${args.join(' ')} failed: ${(stderr || err.message).trim()}`));
        return;
      }
      try {
        resolve(parseTracking(stdout));
      } catch (e) {
        reject(e);
      }
    });
  });
}

const g = (name: string, help: string) => gauge(`stratum_chrony_${name}`, help, ['node']);
const GAUGES = {
  stratum: g('stratum', 'chrony: stratum of this clock'),
  refTime: g('reference_time_seconds', 'chrony: time of the last measurement from the reference (s since epoch)'),
  systemTimeOffset: g('system_time_offset_seconds', 'chrony: offset of the system clock from true time (s; positive = fast)'),
  lastOffset: g('last_offset_seconds', 'chrony: offset at the last clock update (s)'),
  rmsOffset: g('rms_offset_seconds', 'chrony: long-term average offset (s)'),
  frequencyPpm: g('frequency_ppm', 'chrony: frequency error of the system clock (ppm)'),
  residualFrequencyPpm: g('residual_frequency_ppm', 'chrony: residual frequency of the reference (ppm)'),
  skewPpm: g('skew_ppm', 'chrony: estimated error bound of the frequency (ppm)'),
  rootDelay: g('root_delay_seconds', 'chrony: network path delay to the stratum-1 computer (s)'),
  rootDispersion: g('root_dispersion_seconds', 'chrony: dispersion accumulated back to stratum 1 (s)'),
  updateInterval: g('update_interval_seconds', 'chrony: interval between the last two clock updates (s)'),
} as const;
const mLeap = gauge('stratum_chrony_leap_status', 'chrony: leap status (0 Normal, 1 Insert second, 2 Delete second, 3 Not synchronised)', [
  'node',
]);
const mRef = gauge('stratum_chrony_reference_info', 'chrony: current reference (value 1; ID and name in labels)', [
  'node',
  'ref_id',
  'ref_name',
]);
const mUp = gauge('stratum_chrony_up', 'chrony: 1 when the last chronyc read succeeded', ['node']);
const mErrors = counter('stratum_chrony_read_errors_total', 'chrony: failed chronyc reads', ['node']);

/** A running exporter. */
export interface ChronyExporter {
  /** The last good reading, if any. */
  last(): ChronyTracking | undefined;
  /** Read now and update the gauges (also runs every `intervalMs`). */
  refresh(): Promise<ChronyTracking | undefined>;
  stop(): void;
}

/**
 * Poll chronyc every `intervalMs` (default 1,000) and publish the fields as `stratum_chrony_*`
 * gauges labelled with `node`. A failed read sets `stratum_chrony_up` to 0, counts an error and
 * calls `onError`; the exporter keeps polling.
 */
export function startChronyExporter(
  o: ChronycOptions & { node: string; intervalMs?: number; onError?: (e: Error) => void },
): ChronyExporter {
  let last: ChronyTracking | undefined;
  let lastRef: { ref_id: string; ref_name: string } | undefined;
  const refresh = async (): Promise<ChronyTracking | undefined> => {
    try {
      const t = await readTracking(o);
      for (const [k, m] of Object.entries(GAUGES)) m.set({ node: o.node }, t[k as keyof typeof GAUGES]);
      mLeap.set({ node: o.node }, LEAP.indexOf(t.leapStatus));
      if (lastRef && (lastRef.ref_id !== t.refId || lastRef.ref_name !== t.refName)) mRef.remove({ node: o.node, ...lastRef });
      lastRef = { ref_id: t.refId, ref_name: t.refName };
      mRef.set({ node: o.node, ...lastRef }, 1);
      mUp.set({ node: o.node }, 1);
      last = t;
      return t;
    } catch (e) {
      mUp.set({ node: o.node }, 0);
      mErrors.inc({ node: o.node });
      o.onError?.(e as Error);
      return undefined;
    }
  };
  const timer = setInterval(() => void refresh(), o.intervalMs ?? 1000);
  timer.unref();
  void refresh();
  return { last: () => last, refresh, stop: () => clearInterval(timer) };
}
