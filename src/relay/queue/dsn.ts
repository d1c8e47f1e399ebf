// Delivery status notifications (RFC 3464 multipart/report; report-type=delivery-status)
// for recipients that bounced (5xx) or expired (maxAge, Status 4.4.7). Pure: the caller
// queues the result with the null reverse-path, and never for a message whose own sender
// is null (so a bounce never bounces).
import type { QueueEnvelope } from './envelope.js';
import type { RecipientFailure } from './recipient-results.js';

export interface DsnInput {
  /** This relay's name (Reporting-MTA, and the From: domain). */
  reportingMta: string;
  /** The upstream the relay hands mail to (Remote-MTA), when the failure came from it. */
  remoteMta?: string;
  original: QueueEnvelope;
  failures: RecipientFailure[];
  /** The original message's header block (up to the blank line), for text/rfc822-headers. */
  originalHeaders: Buffer;
  now: Date;
  /** Unique per DSN: the MIME boundary and Message-ID are made from it. */
  token: string;
  /** Why the message is returned: bounced (permanent refusal) or expired (maxAge). */
  expired: boolean;
}

const CRLF = '\r\n';

/** RFC 5322 date, e.g. "Tue, 01 Dec 2026 18:03:00 +0000". */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

/** A header field value kept to printable ASCII on one line. */
function field(v: string): string {
  return v.replace(/[^\x20-\x7e]/g, ' ').slice(0, 900);
}

/** The header block of `message` (without the blank line), at most maxBytes, lines ending CRLF. */
export function headerBlock(message: Buffer, maxBytes = 64 * 1024): Buffer {
  const head = message.subarray(0, maxBytes);
  const crlf = head.indexOf('\r\n\r\n');
  const lf = head.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf : lf;
  const block = end >= 0 ? head.subarray(0, end) : head;
  // Normalise bare LF to CRLF; drop a partial last line if the block was cut short.
  const text = block.toString('latin1').replace(/\r?\n/g, CRLF);
  return Buffer.from(end >= 0 || message.length <= maxBytes ? text : text.slice(0, Math.max(0, text.lastIndexOf(CRLF))), 'latin1');
}

export function buildDsn(i: DsnInput): Buffer {
  const boundary = `dsn-${i.token}`;
  const date = rfc5322Date(i.now);
  const arrival = rfc5322Date(new Date(i.original.receivedAt));
  const human = [
    `This is the mail system at ${field(i.reportingMta)}.`,
    '',
    i.expired
      ? 'Your message could not be delivered in the time allowed, to the recipients below. It will not be retried.'
      : 'Your message could not be delivered to the recipients below. The next mail server refused it permanently.',
    '',
    ...i.failures.map((f) => `<${field(f.recipient)}>: ${field(f.diagnostic.replace(/^[^;]*;\s*/, ''))}`),
    '',
  ];
  const perMessage = [`Reporting-MTA: dns; ${field(i.reportingMta)}`, `X-Smtp-Relay-Queue-ID: ${i.original.id}`, `Arrival-Date: ${arrival}`];
  const perRecipient = i.failures.map((f) =>
    [
      `Final-Recipient: rfc822; ${field(f.recipient)}`,
      'Action: failed',
      `Status: ${f.status}`,
      ...(i.remoteMta && f.code !== undefined ? [`Remote-MTA: dns; ${field(i.remoteMta)}`] : []),
      `Diagnostic-Code: ${field(f.diagnostic)}`,
      `Last-Attempt-Date: ${date}`,
    ].join(CRLF),
  );
  const head = [
    `From: Mail Delivery System <MAILER-DAEMON@${field(i.reportingMta)}>`,
    `To: <${field(i.original.originalFrom ?? i.original.from)}>`,
    `Subject: ${i.expired ? 'Delivery time expired' : 'Undelivered Mail Returned to Sender'}`,
    `Date: ${date}`,
    `Message-ID: <${i.token}.dsn@${field(i.reportingMta)}>`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status; boundary="${boundary}"`,
  ];
  const parts = [
    head.join(CRLF),
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=us-ascii',
    'Content-Description: Notification',
    '',
    human.join(CRLF),
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    'Content-Description: Delivery report',
    '',
    perMessage.join(CRLF),
    '',
    perRecipient.join(CRLF + CRLF),
    '',
    `--${boundary}`,
    'Content-Type: text/rfc822-headers',
    'Content-Description: Undelivered Message Headers',
    '',
  ].join(CRLF);
  return Buffer.concat([Buffer.from(parts + CRLF, 'latin1'), i.originalHeaders, Buffer.from(`${CRLF}${CRLF}--${boundary}--${CRLF}`, 'latin1')]);
}
