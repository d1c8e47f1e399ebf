// The MailAuthentication wiring: status from the monitor's results (advice, never Ready), the
// targets from both shapes of spec.dkim, the per-domain DKIM mounts and relay.json, and the
// DKIM public keys the queue poller reads from the relay pods (GET /dkim).
import { describe, expect, test } from '@jest/globals';
import type { SmtpRelayStatus } from '../../../src/api/types.js';
import { MOUNTS } from '../../../src/common/relay-config.js';
import type { QueueSummary } from '../../../src/common/queue-summary.js';
import { createLogger } from '../../../src/common/logger.js';
import { buildDeployment, renderRelayConfig, referencedSecrets } from '../../../src/controller/builders/index.js';
import { getCondition } from '../../../src/controller/conditions.js';
import { dkimKeysOfSpec, mailAuthTargets, senderDomainsOfSpec, type DomainMailAuth } from '../../../src/controller/mail-auth/index.js';
import { QueuePoller } from '../../../src/controller/queue/poller.js';
import { Reason } from '../../../src/controller/reasons.js';
import { computeStatus, type Observed } from '../../../src/controller/status.js';
import { validateRelayConfig } from '../../../src/relay/config.js';
import { ctx, relay } from './fixtures.js';

const t0 = new Date('2026-11-28T10:00:00Z');
const facts = { notBefore: '2026-11-01T00:00:00Z', notAfter: '2027-02-01T00:00:00Z', fingerprint: 'ab'.repeat(32) };
const byo = () => relay({ tls: { secretName: 'byo-tls' }, policy: { allowedSenderDomains: ['example.com'] } });

function observed(mailAuth?: Observed['mailAuth']): Observed {
  return {
    problems: [],
    deployment: { generation: 1, observedGeneration: 1, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 },
    tlsSecret: facts,
    probe: { enabled: false },
    ...(mailAuth ? { mailAuth } : {}),
  };
}

const valid: DomainMailAuth = {
  domain: 'example.com',
  dkim: { state: 'Valid', selector: 's1', found: true, keyMatches: true },
  dmarc: { state: 'Found', found: true, policy: 'reject', pct: 100 },
  spf: { state: 'Found', found: true, record: 'v=spf1 -all' },
};
const mismatch: DomainMailAuth = { ...valid, dkim: { state: 'KeyMismatch', selector: 's1', found: true, keyMatches: false }, dmarc: { state: 'Missing', found: false } };

describe('status: MailAuthentication and senderDomains', () => {
  test('results give the condition and status.senderDomains', () => {
    const s = computeStatus(byo(), observed({ results: [valid] }), t0);
    expect(getCondition(s.conditions, 'MailAuthentication')).toMatchObject({ status: 'True', reason: Reason.MailAuthenticationValid });
    expect(s.senderDomains).toEqual([{ domain: 'example.com', dkim: { state: 'Valid', selector: 's1' }, dmarc: { state: 'Found', policy: 'reject', percentage: 100 }, spf: { state: 'Found', record: 'v=spf1 -all' } }]);
    expect(s.conditions!.map((c) => c.type).at(-1)).toBe('MailAuthentication');
  });

  test('a wrong DNS record never touches Ready: advice only', () => {
    const s = computeStatus(byo(), observed({ results: [mismatch] }), t0);
    expect(getCondition(s.conditions, 'MailAuthentication')).toMatchObject({ status: 'False', reason: 'DkimKeyMismatch' });
    expect(getCondition(s.conditions, 'Ready')).toMatchObject({ status: 'True', reason: Reason.Ready });
  });

  test('before the first check: Pending, or the last written values kept (an operator restart writes nothing)', () => {
    const pending = computeStatus(byo(), observed({}), t0);
    expect(getCondition(pending.conditions, 'MailAuthentication')).toMatchObject({ status: 'Unknown', reason: 'MailAuthenticationPending' });
    expect(pending.senderDomains).toBeUndefined();
    const checked = computeStatus(byo(), observed({ results: [mismatch] }), t0);
    const restarted = computeStatus({ ...byo(), status: checked }, observed({}), new Date(t0.getTime() + 3_600_000));
    expect(restarted).toEqual(checked);
  });

  test('off (--mail-auth-check=off): no condition, and a stale one is removed', () => {
    const checked = computeStatus(byo(), observed({ results: [valid] }), t0);
    const off: SmtpRelayStatus = computeStatus({ ...byo(), status: checked }, observed(), t0);
    expect(getCondition(off.conditions, 'MailAuthentication')).toBeUndefined();
    expect(off.senderDomains).toBeUndefined();
  });
});

describe('targets from spec.dkim, either shape', () => {
  test('the single key and keys[] give the same signing keys', () => {
    const single = relay({ policy: { allowedSenderDomains: ['example.com'] }, dkim: { selector: 's1', domain: 'example.com', keySecretRef: { name: 'k' } } }).spec;
    const list = relay({
      policy: { allowedSenderDomains: ['example.com', 'mail.example.org'] },
      dkim: { keys: [{ domain: 'example.com', selector: 's1', keySecretRef: { name: 'k' } }, { domain: 'example.org', selector: 'r', keySecretRef: { name: 'k2', privateKeyKey: 'o.pem' } }] },
    }).spec;
    expect(dkimKeysOfSpec(single)).toEqual([{ domain: 'example.com', selector: 's1' }]);
    expect(dkimKeysOfSpec(list)).toEqual([{ domain: 'example.com', selector: 's1' }, { domain: 'example.org', selector: 'r' }]);
    expect(senderDomainsOfSpec(list)).toEqual(['example.com', 'example.org', 'mail.example.org']);
    const key = Buffer.from('spki');
    expect(mailAuthTargets(senderDomainsOfSpec(list), [{ domain: 'example.org', selector: 'r', publicKey: key }])).toEqual([
      { domain: 'example.com' },
      { domain: 'example.org', dkim: { selector: 'r', publicKey: key } },
      { domain: 'mail.example.org' },
    ]);
  });
});

describe('per-domain DKIM mounts and relay.json', () => {
  test('keys[]: one volume per domain, the named key projected onto private.key, one directory per domain', () => {
    const r = relay({
      policy: { allowedSenderDomains: ['example.com', 'apps.example'] },
      dkim: { keys: [{ domain: 'example.com', selector: 's1', keySecretRef: { name: 'dkim-a' } }, { domain: 'apps.example', selector: 's2', keySecretRef: { name: 'vault', privateKeyKey: 'apps.pem' } }] },
    });
    const pod = buildDeployment(r, ctx).spec!.template.spec!;
    const mounts = pod.containers[0]!.volumeMounts!;
    expect(pod.volumes!.filter((v) => v.name.startsWith('dkim'))).toEqual([
      { name: 'dkim-0', secret: { secretName: 'dkim-a', items: [{ key: 'private.key', path: 'private.key' }], defaultMode: 0o440 } },
      { name: 'dkim-1', secret: { secretName: 'vault', items: [{ key: 'apps.pem', path: 'private.key' }], defaultMode: 0o440 } },
    ]);
    expect(mounts.filter((m) => m.name.startsWith('dkim'))).toEqual([
      { name: 'dkim-0', mountPath: `${MOUNTS.dkim}/example.com`, readOnly: true },
      { name: 'dkim-1', mountPath: `${MOUNTS.dkim}/apps.example`, readOnly: true },
    ]);
    expect(referencedSecrets(r).filter((s) => s.role === 'dkim').map((s) => [s.name, s.requiredKeys])).toEqual([
      ['dkim-a', ['private.key']],
      ['vault', ['apps.pem']],
    ]);
    const config = renderRelayConfig(r);
    expect(config.dkim).toEqual([
      { domain: 'example.com', selector: 's1', keyDir: `${MOUNTS.dkim}/example.com` },
      { domain: 'apps.example', selector: 's2', keyDir: `${MOUNTS.dkim}/apps.example` },
    ]);
    expect(validateRelayConfig(JSON.parse(JSON.stringify(config))).dkim).toEqual(config.dkim);
  });

  test('the single key keeps its volume as before (no items with the default key name)', () => {
    const r = relay({ policy: { allowedSenderDomains: ['example.com'] }, dkim: { selector: 's1', domain: 'example.com', keySecretRef: { name: 'dkim-key' } } });
    const pod = buildDeployment(r, ctx).spec!.template.spec!;
    expect(pod.volumes!.find((v) => v.name === 'dkim')).toEqual({ name: 'dkim', secret: { secretName: 'dkim-key', defaultMode: 0o440 } });
    expect(renderRelayConfig(r).dkim).toEqual([{ domain: 'example.com', selector: 's1', keyDir: MOUNTS.dkim }]);
  });
});

describe('QueuePoller reads GET /dkim', () => {
  const summary: QueueSummary = { mode: 'pass-through', accepting: true, draining: false, depth: 0, deferred: 0, oldestAgeSeconds: 0, bytes: 0, upstreams: [] };
  const pods = [0, 1, 2].map((i) => ({ pod: `mail-${i}`, host: '127.0.0.1', port: 9000 + i }));

  let current: Record<string, { keys: { domain: string; selector: string; publicKey: string }[] } | Error> = {};
  let polled: () => void = () => undefined;
  const newPoller = () =>
    new QueuePoller({
      concurrency: 4,
      onPolled: () => polled(),
      logger: createLogger('test', 'error'),
      request: async () => summary,
      dkimRequest: async (t) => {
        const a = current[t.pod]!;
        if (a instanceof Error) throw a;
        return a;
      },
    });
  /** One poll of every pod, each answering GET /dkim as `answers` says. */
  async function poll(answers: typeof current, p = newPoller()): Promise<QueuePoller> {
    current = answers;
    const done = new Promise<void>((r) => (polled = r));
    p.observe({ key: 'ns/mail', targets: pods, intervalMs: 0, drain: [], resume: [], dkim: true });
    await done;
    return p;
  }
  const k = (publicKey: string) => ({ keys: [{ domain: 'example.com', selector: 's1', publicKey }] });

  test('the key most pods serve (a rollout in progress gives a stable answer); a failed read keeps the pod\'s last keys', async () => {
    const p = await poll({ 'mail-0': k('OLD'), 'mail-1': k('NEW'), 'mail-2': k('NEW') });
    expect(p.dkimKeys('ns/mail')).toEqual([{ domain: 'example.com', selector: 's1', publicKey: 'NEW' }]);
    await poll({ 'mail-0': k('OLD'), 'mail-1': new Error('timeout'), 'mail-2': new Error('timeout') }, p);
    expect(p.dkimKeys('ns/mail')).toEqual([{ domain: 'example.com', selector: 's1', publicKey: 'NEW' }]);
  });

  test('nothing answered yet: undefined (the check then compares no key: Found, never KeyMismatch)', async () => {
    const p = await poll({ 'mail-0': new Error('404'), 'mail-1': new Error('404'), 'mail-2': new Error('404') });
    expect(p.dkimKeys('ns/mail')).toBeUndefined();
  });
});
