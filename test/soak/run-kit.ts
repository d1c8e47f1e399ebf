// Plumbing shared by the soak files (test/soak/delivery.test.ts, durable-queue.test.ts).
import { afterAll } from '@jest/globals';
import fs from 'node:fs';
import type { RelayFixture } from '../helpers/smtp/relay-fixture.js';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A stack of clean-ups run in reverse order after the file's tests; a failing one does not stop the rest. */
export function cleanupStack(): Array<() => Promise<void>> {
  const cleanups: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return cleanups;
}

/** Writes the fixture's config again after a test changed it. */
export function saveConfig(fx: RelayFixture): void {
  fs.writeFileSync(fx.configPath, JSON.stringify(fx.config, null, 2));
}
