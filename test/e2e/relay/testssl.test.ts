// testssl.sh against a real relay process on 587 (STARTTLS) and 465 (implicit TLS).
// Two depths over the same code: a reduced run that `npm test` (and so CI) always does
// (protocols, cipher categories, forward secrecy and the cheap vulnerability checks),
// and the full -U vulnerability sweep, about a minute per port on two shared cores,
// only with SMTP_RELAY_SOAK=1 (`npm run test:soak`). No finding of severity MEDIUM or
// above is accepted, and only TLS 1.2 and 1.3 may be offered.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRelayFixture, startRelayProcess, type RelayFixture, type RelayProcess } from '../../helpers/smtp/relay-fixture.js';

const soak = process.env.SMTP_RELAY_SOAK === '1';
const BAD = new Set(['MEDIUM', 'HIGH', 'CRITICAL']);

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

/** -p protocols, -s cipher categories, -f forward secrecy, then vulnerability checks. */
const BASE = ['-p', '-s', '-f'];
/**
 * The configuration checks among the vulnerabilities (renegotiation, compression, fallback,
 * weak ciphers and key exchanges), by the id testssl.sh reports them under: each must be
 * present, so a check that silently did not run fails. Left to the soak, as each costs
 * 5-15 s per port on a loaded two-core machine: the implementation bugs of old OpenSSL
 * builds (Heartbleed -H, CCS injection -I, ROBOT -BB), BEAST (TLS 1.0 only), DROWN, Ticketbleed.
 */
const REDUCED_CHECKS: Record<string, string> = {
  '-R': 'secure_renego',
  '-C': 'CRIME_TLS',
  '-Z': 'fallback_SCSV',
  '-W': 'SWEET32',
  '-F': 'FREAK',
  '-J': 'LOGJAM',
  '-L': 'LUCKY13',
  '-4': 'RC4',
};
const DEPTHS = {
  // --fast: forward secrecy enumerated with openssl instead of testssl's own sockets (about 12 s less per port).
  reduced: { flags: ['--fast', ...BASE, ...Object.keys(REDUCED_CHECKS)], mustReport: Object.values(REDUCED_CHECKS) },
  full: { flags: [...BASE, '-U'], mustReport: [...Object.values(REDUCED_CHECKS), 'heartbleed', 'CCS', 'ROBOT', 'BEAST', 'DROWN'] },
};

function testssl(args: string[], jsonFile: string): Promise<Finding[]> {
  return new Promise((resolve, reject) => {
    execFile('testssl', ['--quiet', '--color', '0', '--warnings', 'off', '--jsonfile', jsonFile, ...args], { timeout: 240_000 }, () => {
      try {
        resolve(JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as Finding[]);
      } catch (err) {
        reject(err as Error);
      }
    });
  });
}

const LISTENERS = [
  ['587 STARTTLS', 'submission', ['--starttls', 'smtp']],
  ['465 implicit TLS', 'submissions', []],
] as const;

function scanRelay(depth: keyof typeof DEPTHS): void {
  let fx: RelayFixture;
  let relay: RelayProcess;
  beforeAll(async () => {
    fx = await createRelayFixture();
    relay = await startRelayProcess(fx);
  });
  afterAll(async () => {
    relay?.child.kill('SIGTERM');
    await relay?.exited;
    await fx?.cleanup();
  });

  test.each(LISTENERS)('%s: only TLS 1.2/1.3, no finding of severity MEDIUM or higher', async (label, listener, extra) => {
    const json = path.join(fx.root, `testssl-${depth}-${listener}.json`);
    const t0 = Date.now();
    const findings = await testssl([...DEPTHS[depth].flags, ...extra, `127.0.0.1:${relay.ports[listener]}`], json);
    process.stdout.write(`testssl.sh ${depth} ${label}: ${findings.length} findings in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const finding = (id: string) => findings.find((f) => f.id === id)?.finding;
    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) expect({ id, finding: finding(id) }).toEqual({ id, finding: expect.stringMatching(/^not offered/) });
    for (const id of ['TLS1_2', 'TLS1_3']) expect({ id, finding: finding(id) }).toEqual({ id, finding: expect.stringMatching(/^offered/) });
    const missing = DEPTHS[depth].mustReport.filter((id) => finding(id) === undefined);
    expect({ checksThatDidNotReport: missing }).toEqual({ checksThatDidNotReport: [] });
    expect(findings.filter((f) => BAD.has(f.severity)).map((f) => `${f.id} ${f.severity} ${f.finding}`)).toEqual([]);
  }, 300_000);
}

describe('testssl.sh, reduced (always)', () => scanRelay('reduced'));
(soak ? describe : describe.skip)('testssl.sh, full vulnerability sweep (SMTP_RELAY_SOAK=1)', () => scanRelay('full'));
