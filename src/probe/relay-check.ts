// The open-relay check: inside TLS and without AUTH, an outside sender asks for an
// outside recipient. Any 2xx to RCPT means the endpoint relays for anyone. The probe
// never sends DATA: after RCPT it always resets the transaction (RSET), and the
// caller ends the session with QUIT, so nothing is ever queued or delivered.
import { command } from './connection.js';
import type { Deadline } from './deadline.js';
import { ProbeError, excerpt } from './errors.js';
import type { SmtpChannel, SmtpReply } from './smtp-channel.js';
import type { CheckResult } from './types.js';

export const OPEN_RELAY_CHECK = 'open-relay';
/** Reserved names (RFC 2606 / RFC 6761): they belong to no one, so they are outside every relay's domains. */
export const OUTSIDE_SENDER = 'probe@open-relay-check.invalid';
export const OUTSIDE_RECIPIENT = 'postmaster@open-relay-check.invalid';

/** What the endpoint answered: MAIL always; RCPT only when MAIL was accepted. */
export interface RelayAttempt {
  mail: SmtpReply;
  rcpt?: SmtpReply;
}

const said = (r: SmtpReply) => `${r.code} ${excerpt(r.lines.join(' '), 100)}`;
const positive = (r: SmtpReply) => r.code >= 200 && r.code < 300;

/** Pure: the verdict on what the endpoint answered to an unauthenticated outside relay attempt. */
export function classifyRelayAttempt(a: RelayAttempt): CheckResult {
  const check = OPEN_RELAY_CHECK;
  if (!positive(a.mail)) {
    const how = a.mail.code < 500 ? 'temporarily refused' : 'refused';
    return { check, result: 'pass', message: `MAIL FROM:<${OUTSIDE_SENDER}> without AUTH ${how} (${said(a.mail)})` };
  }
  if (!a.rcpt) return { check, result: 'warn', reason: 'protocol-error', message: `MAIL FROM accepted without AUTH (${said(a.mail)}), and RCPT got no answer` };
  if (positive(a.rcpt)) {
    return { check, result: 'fail', reason: 'open-relay', message: `RCPT TO:<${OUTSIDE_RECIPIENT}> from an outside sender accepted without AUTH (${said(a.rcpt)}): open relay` };
  }
  const how = a.rcpt.code < 500 ? 'temporarily refused' : 'refused';
  return { check, result: 'pass', message: `outside recipient ${how} without AUTH (${said(a.rcpt)}); MAIL FROM had ${a.mail.code}` };
}

/** The open-relay verdict when the endpoint refused the connection at the greeting. */
export function relayRefusedAtGreeting(reply: SmtpReply): CheckResult {
  return { check: OPEN_RELAY_CHECK, result: 'pass', message: `connection refused at the greeting (${said(reply)}): nothing is relayed for this address; the sender check was not exercised` };
}

/** Runs the attempt on an open session (after TLS, EHLO done, no AUTH). Never sends DATA. */
export async function checkOpenRelay(channel: SmtpChannel, deadline: Deadline): Promise<CheckResult> {
  const check = OPEN_RELAY_CHECK;
  try {
    const mail = await command(channel, `MAIL FROM:<${OUTSIDE_SENDER}>`, deadline, check);
    const rcpt = positive(mail) ? await command(channel, `RCPT TO:<${OUTSIDE_RECIPIENT}>`, deadline, check) : undefined;
    // Drop the envelope whatever happened; QUIT follows from the caller. DATA is never sent.
    await command(channel, 'RSET', deadline, check).catch(() => undefined);
    return classifyRelayAttempt({ mail, rcpt });
  } catch (err) {
    if (!(err instanceof ProbeError)) throw err;
    return { check, result: 'warn', reason: err.reason, message: `the open-relay check did not finish: ${err.message}` };
  }
}
