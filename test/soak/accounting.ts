// Delivery accounting for the fault soaks: what each client was told, against what the
// upstream (the sink) holds. Lost = the client got 250 and the sink has nothing.
import nodemailer from 'nodemailer';
import type { CapturedMessage } from '../helpers/smtp/capture-upstream.js';

export interface Attempt {
  code?: number;
  error?: string;
}
export interface LedgerEntry {
  id: string;
  attempts: Attempt[];
  /** 'acked': a 250 was received; 'refused': a 5xx (final); 'gave-up': retries exhausted. */
  outcome: 'acked' | 'refused' | 'gave-up';
}

export function soakMessage(id: string, bytes = 1500): string {
  const line = 'y'.repeat(76) + '\r\n';
  return `From: <app@example.com>\r\nTo: <rcpt@dest.example>\r\nSubject: soak ${id}\r\nX-Soak-Id: ${id}\r\nMessage-ID: <${id}@soak.example>\r\n\r\n${line.repeat(Math.ceil(bytes / line.length))}`;
}

/** A delivered message as a sink holds it (the capture upstream, or a Postfix Maildir file). */
export type SinkMessage = Pick<CapturedMessage, 'raw'>;

export function idOf(m: SinkMessage): string | undefined {
  return /^X-Soak-Id: (\S+)\r?$/m.exec(m.raw.toString())?.[1];
}

export interface Client {
  send(id: string): Promise<Attempt & { ok: boolean }>;
  close(): void;
}

/** One pooled nodemailer client (a long-lived SMTP session, reconnecting after failures). */
export function pooledClient(port: number, ca: string, user: string, pass: string): Client {
  const t = nodemailer.createTransport({
    pool: true,
    maxConnections: 1,
    maxMessages: 100,
    host: '127.0.0.1',
    port,
    requireTLS: true,
    auth: { user, pass },
    tls: { ca, servername: 'relay.test.example' },
    connectionTimeout: 5000,
    greetingTimeout: 5000,
    socketTimeout: 20_000,
  });
  return {
    async send(id) {
      try {
        await t.sendMail({ envelope: { from: 'app@example.com', to: ['rcpt@dest.example'] }, raw: soakMessage(id) });
        return { ok: true, code: 250 };
      } catch (err) {
        const e = err as { responseCode?: number; message: string };
        return { ok: false, code: e.responseCode, error: e.message };
      }
    },
    close: () => t.close(),
  };
}

/** Sends `id` until a 250, a 5xx, or maxAttempts; 4xx and network errors are retried. */
export async function sendWithRetries(client: Client, id: string, maxAttempts: number, backoffMs: number, stopped: () => boolean = () => false): Promise<LedgerEntry> {
  const attempts: Attempt[] = [];
  for (let i = 0; i < maxAttempts && !stopped(); i++) {
    const r = await client.send(id);
    attempts.push({ code: r.code, error: r.ok ? undefined : r.error?.slice(0, 120) });
    if (r.ok) return { id, attempts, outcome: 'acked' };
    if (r.code !== undefined && r.code >= 500) return { id, attempts, outcome: 'refused' };
    await new Promise((res) => setTimeout(res, backoffMs * (1 + Math.min(i, 5))));
  }
  return { id, attempts, outcome: 'gave-up' };
}

export interface Report {
  messages: number;
  acked: number;
  refused: number;
  gaveUp: number;
  attempts: number;
  lost: string[];
  /** In the sink more than once. */
  duplicates: number;
  /** Duplicates with no failed attempt before them: nothing explains them. */
  unexplainedDuplicates: string[];
  /** In the sink although the client never got 250 (the upstream took it, the reply was lost). */
  deliveredUnacked: number;
  /** In the sink although the client's only attempt got a 5xx (an earlier timed-out attempt would explain it). */
  deliveredRefused: string[];
  sinkUnknown: number;
}

export function account(ledger: LedgerEntry[], sink: SinkMessage[]): Report {
  const counts = new Map<string, number>();
  let sinkUnknown = 0;
  for (const m of sink) {
    const id = idOf(m);
    if (!id) sinkUnknown++;
    else counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  const r: Report = { messages: ledger.length, acked: 0, refused: 0, gaveUp: 0, attempts: 0, lost: [], duplicates: 0, unexplainedDuplicates: [], deliveredUnacked: 0, deliveredRefused: [], sinkUnknown };
  for (const e of ledger) {
    const n = counts.get(e.id) ?? 0;
    r.attempts += e.attempts.length;
    if (e.outcome === 'acked') r.acked++;
    if (e.outcome === 'refused') r.refused++;
    if (e.outcome === 'gave-up') r.gaveUp++;
    if (e.outcome === 'acked' && n === 0) r.lost.push(e.id);
    if (n > 1) {
      r.duplicates++;
      // Each extra copy needs a failed attempt that preceded a retry.
      if (n - 1 > e.attempts.length - 1) r.unexplainedDuplicates.push(e.id);
    }
    if (e.outcome !== 'acked' && n > 0) r.deliveredUnacked++;
    if (e.outcome === 'refused' && n > 0 && e.attempts.length === 1) r.deliveredRefused.push(e.id);
  }
  return r;
}

export function summary(name: string, r: Report, extra = ''): string {
  return `SOAK ${name}: messages=${r.messages} attempts=${r.attempts} acked=${r.acked} refused(5xx)=${r.refused} gave-up=${r.gaveUp} lost=${r.lost.length} duplicates=${r.duplicates} (unexplained ${r.unexplainedDuplicates.length}) delivered-but-not-acked=${r.deliveredUnacked} delivered-despite-5xx=${r.deliveredRefused.length}${extra}\n`;
}
