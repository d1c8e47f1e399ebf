// jest globalTeardown of the integration project: stops the shared control plane.
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Same file as controlplane.ts's stateFilePath (not imported: see global-setup.ts).
const stateFilePath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '.cache', 'controlplane', 'state.json');

export default async function globalTeardown(): Promise<void> {
  const cp = globalThis.__SMTP_RELAY_CONTROLPLANE__;
  globalThis.__SMTP_RELAY_CONTROLPLANE__ = undefined;
  if (!cp) return;
  await cp.stop();
  // Remove the well-known state file only if it still describes this run.
  try {
    const state = JSON.parse(await fs.readFile(stateFilePath, 'utf8')) as { workDir?: string };
    if (state.workDir === cp.workDir) await fs.rm(stateFilePath, { force: true });
  } catch {
    // absent or unreadable: nothing to clean
  }
}
