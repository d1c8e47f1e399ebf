// testssl.sh against the relay's 587 (STARTTLS) and 465 (implicit TLS). Slow (about a
// minute per port on two shared cores), so it runs only with SMTP_RELAY_SOAK=1
// (`npm run test:soak`). No finding of severity MEDIUM or above is accepted.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { RelayRuntime } from '../../../src/relay/relay.js';
import { createRelayFixture, startInProcessRelay, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';

const soak = process.env.SMTP_RELAY_SOAK === '1';
const BAD = new Set(['MEDIUM', 'HIGH', 'CRITICAL']);

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

function testssl(args: string[], jsonFile: string): Promise<Finding[]> {
  return new Promise((resolve, reject) => {
    // -p protocols, -s cipher categories, -f forward secrecy, -U vulnerabilities.
    execFile('testssl', ['--quiet', '--color', '0', '--warnings', 'off', '--jsonfile', jsonFile, '-p', '-s', '-f', '-U', ...args], { timeout: 240_000 }, () => {
      try {
        resolve(JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as Finding[]);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

(soak ? describe : describe.skip)('testssl.sh (SMTP_RELAY_SOAK=1)', () => {
  let fx: RelayFixture;
  let relay: RelayRuntime;
  beforeAll(async () => {
    fx = await createRelayFixture();
    relay = await startInProcessRelay(fx);
  });
  afterAll(async () => {
    await relay?.stop(200);
    await fx?.cleanup();
  });

  test.each([
    ['587 STARTTLS', 'submission', ['--starttls', 'smtp']],
    ['465 implicit TLS', 'submissions', []],
  ] as const)('%s: no finding of severity MEDIUM or higher', async (_label, listener, extra) => {
    const json = path.join(fx.root, `testssl-${listener}.json`);
    const findings = await testssl([...extra, `127.0.0.1:${relay.port(listener)}`], json);
    expect(findings.length).toBeGreaterThan(10);
    expect(findings.find((f) => f.id === 'TLS1')?.finding).toMatch(/not offered/);
    expect(findings.find((f) => f.id === 'TLS1_1')?.finding).toMatch(/not offered/);
    expect(findings.filter((f) => BAD.has(f.severity)).map((f) => `${f.id} ${f.severity} ${f.finding}`)).toEqual([]);
  }, 300_000);
});
