// Regression: an upstream that resets connections before its greeting, more times than the
// pool has slots, must not wedge the relay. Each attempt gets a prompt 4xx, and once the
// upstream is back the next message is delivered (the soak found the pool leaking a slot
// per such failure until every message waited forever).
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { message, sendWithNodemailer } from '../../helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startInProcessRelay, USER, type RelayFixture } from '../../helpers/smtp/relay-fixture.js';
import { startFaultProxy, type FaultProxy } from '../../soak/fault-proxy.js';

let fx: RelayFixture;
let proxy: FaultProxy;
let stop: () => Promise<void>;
let port: number;

beforeAll(async () => {
  // The proxy needs the capture upstream's port, which exists only once the fixture does:
  // build the fixture, put the proxy in front of its upstream, then point the config at it.
  fx = await createRelayFixture((c) => (c.upstream.poolSize = 2));
  proxy = await startFaultProxy(fx.upstream.port);
  fx.config.upstream.port = proxy.port;
  const relay = await startInProcessRelay(fx);
  stop = () => relay.stop();
  port = relay.port('submission')!;
});
afterAll(async () => {
  await stop?.();
  await proxy?.close();
  await fx?.cleanup();
});

test('resets before the greeting, 3x the pool size, then recovery: 4xx each time, then delivered', async () => {
  proxy.mode = 'down';
  for (let i = 0; i < 6; i++) {
    const r = await sendWithNodemailer({ port, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(200, `outage-${i}`) });
    expect(r).toMatchObject({ ok: false, code: 451 });
  }
  proxy.mode = 'pass';
  const ok = await sendWithNodemailer({ port, ca: fx.ca.caCert, user: USER, pass: PASSWORD, raw: message(200, 'after-outage') });
  expect(ok).toMatchObject({ ok: true });
  const subjects = fx.upstream.messages.map((m) => /^Subject: (.*)$/m.exec(m.raw.toString())?.[1]);
  expect(subjects).toEqual(['after-outage']);
});
