// One delivery attempt's result, recipient by recipient: delivered (done), deferred (retry
// later) or bounced (a DSN to the sender). Pure.
//
// - accepted by the upstream: delivered;
// - refused at RCPT: a 5xx bounces, a 4xx (or no reply) is deferred;
// - the whole transaction failed (no connection, timeout, MAIL FROM or the end of DATA
//   refused): every recipient not already refused at RCPT shares that fate, deferred if
//   temporary, bounced if permanent (a 5xx, or REQUIRETLS the next hop cannot honour).
import type { RecipientRejection, TransactionResult } from '../upstream.js';

export interface RecipientFailure {
  recipient: string;
  /** The upstream's reply code, if it answered. */
  code?: number;
  /** RFC 3463 enhanced status (the DSN's Status field). */
  status: string;
  /** The DSN's Diagnostic-Code value ("smtp; 550 5.1.1 ..."), or a short local reason. */
  diagnostic: string;
}

export interface AttemptDecisions {
  delivered: string[];
  deferred: RecipientFailure[];
  bounced: RecipientFailure[];
}

const ENHANCED_RE = /^\d{3}[ -]([245])\.(\d{1,3})\.(\d{1,3})\b/;

/** The reply's first line, printable ASCII only (a DSN field and a log line). */
export function replyLine(response: string): string {
  return (response.split(/\r?\n/)[0] ?? '').replace(/[^\x20-\x7e]/g, ' ').trim().slice(0, 400);
}

/** The enhanced status of a reply when its class agrees with the code, else `fallback`. */
export function statusOf(response: string, code: number | undefined, fallback: string): string {
  const m = ENHANCED_RE.exec(response);
  if (m && code !== undefined && String(Math.floor(code / 100)) === m[1]) return `${m[1]}.${m[2]}.${m[3]}`;
  return fallback;
}

function fromReply(recipient: string, code: number | undefined, response: string, localReason: string): RecipientFailure {
  const permanent = code !== undefined && code >= 500;
  const line = replyLine(response);
  const status = statusOf(response, code, permanent ? '5.0.0' : '4.0.0');
  // An SMTP reply is quoted as it came (with its code); a failure without one says what happened.
  const diagnostic = code !== undefined && line ? `smtp; ${/^\d{3}/.test(line) ? line : `${code} ${line}`}` : `X-smtp-relay; ${localReason}`;
  return { recipient, code, status, diagnostic };
}

function isPermanent(code: number | undefined): boolean {
  return code !== undefined && code >= 500;
}

export function classifyAttempt(recipients: readonly string[], result: TransactionResult): AttemptDecisions {
  const out: AttemptDecisions = { delivered: [], deferred: [], bounced: [] };
  const rejected = new Map<string, RecipientRejection>();
  for (const r of result.rejected) rejected.set(r.recipient.toLowerCase(), r);
  const accepted = result.kind === 'answered' ? new Set(result.accepted.map((a) => a.toLowerCase())) : new Set<string>();
  for (const rcpt of recipients) {
    const key = rcpt.toLowerCase();
    const refusal = rejected.get(key);
    if (refusal) {
      const f = fromReply(rcpt, refusal.code, refusal.response, 'recipient refused without a reply');
      (isPermanent(refusal.code) ? out.bounced : out.deferred).push(f);
    } else if (result.kind === 'answered') {
      if (accepted.has(key)) out.delivered.push(rcpt);
      // Neither accepted nor refused cannot happen with a sane upstream: try again, never drop.
      else out.deferred.push({ recipient: rcpt, status: '4.0.0', diagnostic: 'X-smtp-relay; no reply for this recipient' });
    } else {
      const f = fromReply(rcpt, result.code, result.response, result.message);
      if (!result.temporary) {
        // A permanent failure without a reply (REQUIRETLS): the status is in our own message.
        if (result.code === undefined) f.status = /^5\.\d+\.\d+/.exec(result.message)?.[0] ?? '5.0.0';
        out.bounced.push(f);
      } else {
        if (result.code === undefined) f.status = /^4\.\d+\.\d+/.exec(result.message)?.[0] ?? '4.0.0';
        out.deferred.push(f);
      }
    }
  }
  return out;
}
