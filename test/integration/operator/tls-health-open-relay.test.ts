// The operator reports an open relay. A real SMTP server that takes RCPT for an outside
// recipient from an outside sender without AUTH (the broken-server corpus's openRelay
// fault, serving the relay's own certificate from its TLS Secret) stands behind the
// relay's submission endpoint; the operator (--tls-probe=on --probe-local-endpoints)
// probes it and must say OpenRelay in TLSHealthy and Ready, with a Warning Event, and
// come back once the endpoint refuses again. The Deployment's availability is written by
// the test (no kube-controller-manager here), as in tls-health.test.ts.
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import fs from 'node:fs';
import type { SmtpRelay } from '../../../src/api/types.js';
import type { OperatorHandle } from '../../../src/controller/operator.js';
import { createTestNamespace, waitFor, type TestNamespace } from '../../harness/kube.js';
import { ENDPOINTS_ANNOTATION } from '../../harness/local-runtime.js';
import { SIM_DEPLOYMENT_STATUS, SIM_SERVICE_ROUTING } from '../../harness/simulated.js';
import { createTestPki, TEST_HOST, type TestPki } from '../../helpers/broken-smtp/certs.js';
import { startBrokenSmtp, type RunningServer } from '../../helpers/broken-smtp/server.js';
import { applyRelay, condition, createUsersSecret, eventsFor, getRelay, kubectlOk, relayManifest, runOperatorInProcess, simulateDeploymentAvailable } from './helpers.js';

jest.setTimeout(90_000);

const NAME = 'open';
let ns: TestNamespace;
let operator: OperatorHandle;
let pki: TestPki;
const servers: RunningServer[] = [];

async function serve(mode: 'starttls' | 'implicit', openRelay: boolean): Promise<RunningServer> {
  const server = await startBrokenSmtp({ mode, key: pki.good.key, cert: pki.chain(pki.good), openRelay });
  servers.push(server);
  return server;
}

async function pointServiceAt(submission: RunningServer, submissions: RunningServer): Promise<void> {
  const endpoints = JSON.stringify({ submission: `127.0.0.1:${submission.port}`, submissions: `127.0.0.1:${submissions.port}` });
  await kubectlOk(['-n', ns.name, 'annotate', 'service', NAME, '--overwrite', `${ENDPOINTS_ANNOTATION}=${endpoints}`]);
}

async function waitForRelay(description: string, ok: (r: SmtpRelay) => boolean): Promise<SmtpRelay> {
  return waitFor(async () => {
    const r = await getRelay(ns.name, NAME);
    return r && ok(r) ? r : undefined;
  }, { description, timeoutMs: 45_000, intervalMs: 100 });
}

beforeAll(async () => {
  pki = createTestPki();
  ns = await createTestNamespace('op-open-relay');
  await createUsersSecret(ns.name);
  // The relay's own certificate (and its CA, so the probe trusts the chain): the only fault left is the open relay.
  await kubectlOk(['-n', ns.name, 'create', 'secret', 'generic', 'byo-tls', '--type=kubernetes.io/tls', `--from-literal=tls.crt=${pki.chain(pki.good)}`, `--from-literal=tls.key=${pki.good.key}`, `--from-file=ca.crt=${pki.caFile}`]);
  operator = await runOperatorInProcess(ns.name, ['--tls-probe=on', '--probe-local-endpoints', '--probe-interval-override=2s']);
});

afterAll(async () => {
  await operator?.stop();
  await Promise.all(servers.map((s) => s.close()));
  await ns?.cleanup();
  pki?.cleanup();
});

test(`an endpoint that relays for outsiders without AUTH: TLSHealthy and Ready False with reason OpenRelay, a Warning Event; fixed, it recovers ${SIM_SERVICE_ROUTING} ${SIM_DEPLOYMENT_STATUS}`, async () => {
  await applyRelay(relayManifest(ns.name, NAME, { hostname: TEST_HOST, tls: { secretName: 'byo-tls' }, healthCheck: { interval: '10s' } }));
  await waitFor(() => kubectlOk(['-n', ns.name, 'get', 'service', NAME]).catch(() => undefined), { description: 'the Service', timeoutMs: 15_000, intervalMs: 200 });
  const open = await serve('starttls', true);
  const healthy465 = await serve('implicit', false);
  await pointServiceAt(open, healthy465);
  await simulateDeploymentAvailable(ns.name, NAME);

  const flagged = await waitForRelay('TLSHealthy=False OpenRelay', (r) => condition(r, 'TLSHealthy')?.reason === 'OpenRelay');
  expect(condition(flagged, 'TLSHealthy')).toMatchObject({ status: 'False', message: expect.stringContaining('open relay') });
  expect(condition(flagged, 'Ready')).toMatchObject({ status: 'False', reason: 'OpenRelay' });
  const submission = flagged.status!.endpoints!.find((e) => e.name === 'submission')!;
  expect(submission).toMatchObject({ healthy: false, matchesSecret: true, chainVerified: true });
  expect(submission.failures!.map((f) => `${f.result}:${f.reason}`)).toEqual(['fail:open-relay']);
  expect(flagged.status!.endpoints!.find((e) => e.name === 'submissions')).toMatchObject({ healthy: true });
  const events = await waitFor(async () => {
    const list = await eventsFor(ns.name, NAME);
    return list.some((e) => e.reason === 'OpenRelay') ? list : undefined;
  }, { description: 'a Warning OpenRelay Event', timeoutMs: 15_000, intervalMs: 200 });
  expect(events.find((e) => e.reason === 'OpenRelay')).toMatchObject({ type: 'Warning', message: expect.stringMatching(/^Endpoint submission \(port 587\) is an open relay/) });
  // The probe never sent DATA, and always reset the transaction and quit.
  expect(open.commands.some((c) => /^DATA/i.test(c))).toBe(false);
  expect(open.commands.filter((c) => /^(RCPT|RSET|QUIT)/i.test(c)).slice(0, 3).map((c) => c.slice(0, 4))).toEqual(['RCPT', 'RSET', 'QUIT']);

  // Fixed: the endpoint refuses unauthenticated mail again.
  await pointServiceAt(await serve('starttls', false), healthy465);
  const back = await waitForRelay('TLSHealthy=True again', (r) => condition(r, 'TLSHealthy')?.status === 'True');
  expect(condition(back, 'Ready')).toMatchObject({ status: 'True' });
});
