// Raw SMTP sessions against a relay's listeners, for the attack suites: one helper per
// way in (plaintext, after STARTTLS, implicit TLS, authenticated), so each test reads as
// the conversation an attacker would have.
import { RawSmtp } from '../helpers/smtp/clients.js';

export const b64 = (s: string): string => Buffer.from(s).toString('base64');

export type ListenerName = 'submission' | 'submissions' | 'relay';

export interface SessionOptions {
  ports: Record<ListenerName, number>;
  ca: string;
}

/** Connected, greeting read, EHLO sent. `tls`: STARTTLS on 587/relay before EHLO again. */
export async function openSession(o: SessionOptions, listener: ListenerName, tls: boolean): Promise<{ c: RawSmtp; greeting: string | null; ehlo: string | null }> {
  const implicit = listener === 'submissions';
  const c = await RawSmtp.connect(o.ports[listener], implicit ? o.ca : undefined);
  const greeting = await c.reply();
  let ehlo = await c.cmd('EHLO attacker.example');
  if (tls && !implicit) {
    const r = await c.cmd('STARTTLS');
    if (!r?.startsWith('220 ')) throw new Error(`STARTTLS refused on ${listener}: ${r}`);
    await c.starttls(o.ca);
    ehlo = await c.cmd('EHLO attacker.example');
  }
  return { c, greeting, ehlo };
}

export function code(reply: string | null): number {
  return reply ? Number(reply.slice(0, 3)) : 0;
}

/** Replies of a whole transaction, command by command; stops sending after the first refusal of DATA. */
export async function transaction(c: RawSmtp, from: string, to: string[], body = 'Subject: probe\r\n\r\nbody\r\n'): Promise<{ mail: string | null; rcpt: (string | null)[]; data: string | null; end: string | null }> {
  const mail = await c.cmd(`MAIL FROM:<${from}>`);
  const rcpt: (string | null)[] = [];
  for (const t of to) rcpt.push(await c.cmd(`RCPT TO:<${t}>`));
  const data = await c.cmd('DATA');
  let end: string | null = null;
  if (code(data) === 354) end = await c.cmd(`${body}.`);
  return { mail, rcpt, data, end };
}
