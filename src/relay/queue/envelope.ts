// The on-disk form of one queued message: a file `<id>.msg` in the queue's msg/ directory,
// written once and never changed:
//
//   SMTPRELAYQ1\n
//   {"id":...,"from":...,"to":[...],...}\n      (the envelope, one JSON line)
//   <the message bytes, exactly as the upstream gets them (DKIM-signed if on)>
//
// Progress on a message with several recipients (some delivered or bounced, others still
// to try) goes to a small sidecar `<id>.state`, replaced atomically. Pure: parse and print.

export const QUEUE_MAGIC = 'SMTPRELAYQ1';

export class QueueFormatError extends Error {}

export interface QueueEnvelope {
  id: string;
  /** Envelope sender; '' is the null reverse-path (a bounce: never bounced itself). */
  from: string;
  /** Recipients as accepted from the client. */
  to: string[];
  /** Acceptance time (ms since the epoch): maxAge counts from here. */
  receivedAt: number;
  /** The authenticated user, if any. */
  user?: string;
  /** The client address the message came from. */
  client?: string;
  requireTls: boolean;
  use8BitMime: boolean;
  /** A delivery status notification this relay made (its sender is ''). */
  dsn?: boolean;
  /** The client's sender when a route rewrote it (routes[].rewriteFrom): routes match on it. */
  originalFrom?: string;
}

/** Recipients still to try, once some are delivered or bounced (no state: all of envelope.to). */
export interface QueueState {
  remaining: string[];
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
/** An address as SMTP carries it: no line breaks, no angle brackets (they would break MAIL/RCPT). */
const ADDRESS_RE = /^[^\r\n<>\s]*$/;

export function isQueueId(id: string): boolean {
  return ID_RE.test(id);
}

function fail(msg: string): never {
  throw new QueueFormatError(msg);
}

function addressList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((a) => typeof a !== 'string' || a === '' || !ADDRESS_RE.test(a))) fail(`${what} is not a list of addresses`);
  return v as string[];
}

/** The header that starts a message file. */
export function encodeHeader(env: QueueEnvelope): Buffer {
  return Buffer.from(`${QUEUE_MAGIC}\n${JSON.stringify(env)}\n`, 'utf8');
}

/** Checks a parsed envelope; throws QueueFormatError naming what is wrong. */
export function validateEnvelope(raw: unknown): QueueEnvelope {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('envelope is not an object');
  const o = raw as Record<string, unknown>;
  if (typeof o.id !== 'string' || !isQueueId(o.id)) fail('envelope.id is not a queue id');
  if (typeof o.from !== 'string' || !ADDRESS_RE.test(o.from)) fail('envelope.from is not an address');
  const to = addressList(o.to, 'envelope.to');
  if (to.length === 0) fail('envelope.to is empty');
  if (typeof o.receivedAt !== 'number' || !Number.isFinite(o.receivedAt) || o.receivedAt <= 0) fail('envelope.receivedAt is not a time');
  if (typeof o.requireTls !== 'boolean' || typeof o.use8BitMime !== 'boolean') fail('envelope flags are not booleans');
  if (o.user !== undefined && typeof o.user !== 'string') fail('envelope.user is not a string');
  if (o.client !== undefined && typeof o.client !== 'string') fail('envelope.client is not a string');
  if (o.dsn !== undefined && typeof o.dsn !== 'boolean') fail('envelope.dsn is not a boolean');
  if (o.originalFrom !== undefined && (typeof o.originalFrom !== 'string' || !ADDRESS_RE.test(o.originalFrom))) fail('envelope.originalFrom is not an address');
  const env: QueueEnvelope = { id: o.id, from: o.from, to, receivedAt: o.receivedAt, requireTls: o.requireTls, use8BitMime: o.use8BitMime };
  if (o.user !== undefined) env.user = o.user as string;
  if (o.client !== undefined) env.client = o.client as string;
  if (o.dsn) env.dsn = true;
  if (o.originalFrom !== undefined) env.originalFrom = o.originalFrom as string;
  return env;
}

/**
 * Parses the header at the start of a message file. `head` is the file's first bytes (at
 * least up to the end of the envelope line). Returns the envelope and where the body starts.
 */
export function decodeHeader(head: Buffer): { envelope: QueueEnvelope; bodyOffset: number } {
  const magicEnd = head.indexOf(0x0a);
  if (magicEnd < 0 || head.subarray(0, magicEnd).toString('latin1') !== QUEUE_MAGIC) fail('not a queue file (no magic line)');
  const jsonEnd = head.indexOf(0x0a, magicEnd + 1);
  if (jsonEnd < 0) fail('truncated envelope');
  let raw: unknown;
  try {
    raw = JSON.parse(head.subarray(magicEnd + 1, jsonEnd).toString('utf8'));
  } catch {
    fail('envelope is not JSON');
  }
  return { envelope: validateEnvelope(raw), bodyOffset: jsonEnd + 1 };
}

export function encodeState(state: QueueState): Buffer {
  return Buffer.from(`${JSON.stringify(state)}\n`, 'utf8');
}

/** Parses a sidecar state; its recipients must be the envelope's. */
export function decodeState(text: string, env: QueueEnvelope): QueueState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    fail('state is not JSON');
  }
  if (typeof raw !== 'object' || raw === null) fail('state is not an object');
  const o = raw as Record<string, unknown>;
  const state: QueueState = { remaining: addressList(o.remaining, 'state.remaining') };
  const known = new Set(env.to);
  for (const r of state.remaining) if (!known.has(r)) fail(`state names ${JSON.stringify(r)}, not a recipient of the message`);
  return state;
}
