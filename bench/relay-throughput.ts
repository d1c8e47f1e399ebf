// Throughput of the relay: messages/s through `relay` (a real process, dist/cli.js) to the
// capture upstream, STARTTLS + AUTH, 10 KiB messages, 10 concurrent client connections.
// Run: npm run build && node --import tsx bench/relay-throughput.ts [seconds=10] [connections=10]
import nodemailer from 'nodemailer';
import { message } from '../test/helpers/smtp/clients.js';
import { createRelayFixture, PASSWORD, startRelayProcess, USER } from '../test/helpers/smtp/relay-fixture.js';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 10);

const fx = await createRelayFixture((c) => {
  c.upstream.poolSize = connections;
  c.limits.upstreamPerUserConcurrency = connections; // one user here: measure the pool, not the per-user cap
  c.policy.maxMessageBytes = 1024 * 1024;
});
const relay = await startRelayProcess(fx);
const body = message(10 * 1024, 'bench');
let sent = 0;
let failed = 0;
const deadline = Date.now() + seconds * 1000;

async function worker(): Promise<void> {
  // One connection per worker, reused: STARTTLS + AUTH once, then message after message.
  const t = nodemailer.createTransport({
    pool: true,
    maxConnections: 1,
    maxMessages: Infinity,
    host: '127.0.0.1',
    port: relay.ports.submission,
    requireTLS: true,
    auth: { user: USER, pass: PASSWORD },
    tls: { ca: fx.ca.caCert, servername: 'relay.test.example' },
  });
  while (Date.now() < deadline) {
    try {
      await t.sendMail({ envelope: { from: 'app@example.com', to: ['rcpt@dest.example'] }, raw: body });
      sent++;
    } catch {
      failed++;
    }
  }
  t.close();
}

const started = Date.now();
await Promise.all(Array.from({ length: connections }, worker));
const elapsed = (Date.now() - started) / 1000;
relay.child.kill('SIGTERM');
await relay.exited;
const stored = fx.upstream.messages.length;
await fx.cleanup();
const result = { connections, messageBytes: body.length, seconds: Math.round(elapsed * 10) / 10, accepted: sent, failed, storedUpstream: stored, messagesPerSecond: Math.round((sent / elapsed) * 10) / 10 };
process.stdout.write(`${JSON.stringify(result)}\n`);
if (stored < sent) {
  process.stderr.write('INVARIANT BROKEN: fewer messages upstream than acknowledged\n');
  process.exitCode = 1;
}
