/** Contract tests of the embedded (LMDB) change bus, plus local-only checks (trim after ack). */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { test } from 'node:test';
import { tempDir } from '../testing/index.ts';
import { Collector, runBusContract } from './contract.ts';
import { openLocalBus } from './local.ts';
import type { ChangeBus } from './types.ts';

runBusContract('local', async () => {
  const dir = await tempDir('stratum-local-bus-');
  let bus: ChangeBus = await openLocalBus(dir);
  return {
    bus,
    reopen: async () => {
      await bus.close();
      bus = await openLocalBus(dir);
      return bus;
    },
    cleanup: async () => {
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
