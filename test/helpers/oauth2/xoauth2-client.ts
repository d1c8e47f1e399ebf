// One message over SMTP with SASL XOAUTH2, the way the relay's upstream pool logs in:
// nodemailer's SMTPConnection, STARTTLS required, tokens from our TokenSource.
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { nodemailerOAuth2 } from '../../../src/relay/oauth2/xoauth2.js';
import type { TokenSource } from '../../../src/relay/oauth2/token-source.js';

export interface XOAuth2SendOptions {
  port: number;
  ca: string;
  servername: string;
  source: TokenSource;
  user: string;
  from: string;
  to: string;
  body: string;
}

export type XOAuth2SendResult = { ok: true; response: string } | { ok: false; error: Error & { code?: string; originalCode?: string; responseCode?: number } };

export async function sendWithXOAuth2(o: XOAuth2SendOptions): Promise<XOAuth2SendResult> {
  const conn = new SMTPConnection({
    host: '127.0.0.1',
    port: o.port,
    requireTLS: true,
    tls: { ca: o.ca, servername: o.servername, minVersion: 'TLSv1.2' },
    name: 'relay.test.example',
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 15_000,
    logger: false,
  });
  // A connection error arrives as an event, not through the step's callback.
  let failed: (err: Error) => void = () => undefined;
  conn.on('error', (err: Error) => failed(err));
  const step = <T>(fn: (cb: (err: Error | null, v?: T) => void) => void) =>
    new Promise<T>((resolve, reject) => {
      failed = reject;
      fn((err, v) => (err ? reject(err) : resolve(v as T)));
    });
  try {
    await step<void>((cb) => conn.connect(() => cb(null)));
    await step<void>((cb) => conn.login({ user: o.user, oauth2: nodemailerOAuth2(o.source, o.user) }, (err) => cb(err ?? null)));
    const info = await step<{ response: string }>((cb) => conn.send({ from: o.from, to: [o.to] }, o.body, (err, i) => cb(err ?? null, i as { response: string })));
    conn.quit();
    return { ok: true, response: info.response };
  } catch (error) {
    conn.close();
    return { ok: false, error: error as Error };
  }
}
