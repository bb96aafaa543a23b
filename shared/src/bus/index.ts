/** Change bus adapters behind one interface (DESIGN §3). */
import type { ChangeBus } from './types.ts';
import { openLocalBus } from './local.ts';

export * from './types.ts';
export { openLocalBus } from './local.ts';

/**
 * Open the bus named by `url`: "local" → the embedded log in `localDir`; `nats://HOST:PORT` → NATS JetStream.
 * @throws BusUnavailableError when the broker cannot be reached.
 */
export async function openBus(url: string, localDir: string): Promise<ChangeBus> {
  if (url === 'local') return openLocalBus(localDir);
  const { openNatsBus } = await import('./nats.ts');
  return openNatsBus({ servers: url.replace(/^nats:\/\//, '') });
}
