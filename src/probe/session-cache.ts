// TLS session resumption for the repeated probes of one endpoint. A resumed handshake shows
// no certificate: the server proves it holds the session's key, not which certificate it
// serves now. So the certificate verdicts (trust, hostname, fingerprint, the chain's dates)
// are only ever taken from a full handshake, and reused with resumed sessions (only when none
// of them failed: a failing certificate gets a full handshake every time, so a fix shows at once) until
//  - fullHandshakeEveryMs has passed since that full handshake (default 10 minutes), or
//  - what the certificate is judged against changed: the expected fingerprint (a new
//    certificate in the Secret), the trusted CAs, or the name (part of the endpoint key).
// A certificate that changes behind an unchanged Secret is therefore seen within
// fullHandshakeEveryMs; one that changes with its Secret, at the next probe.
import type { CertificateInfo, CheckResult } from './types.js';
import type { Dated } from './certificates.js';

export const DEFAULT_FULL_HANDSHAKE_EVERY_MS = 10 * 60_000;
/** About 1.8 KiB per endpoint (a ~900-byte session, the dates, the entry, measured when the verdicts were shared with the scheduler's last result): 25,000 entries ≈ 45 MiB. */
export const DEFAULT_MAX_SESSIONS = 25_000;

/** What a full handshake established about the served certificate. */
export interface VerifiedCertificate {
  /** The served chain's names and dates, leaf first: expiry is judged again at every probe. */
  dates: Dated[];
  chain: CertificateInfo[];
  trust: CheckResult;
  hostname: CheckResult;
  fingerprint?: CheckResult;
  authorizationError?: string;
  /** When the full handshake ran (ms since epoch). */
  at: number;
}

interface Entry {
  session?: Buffer;
  verified?: { against: string; certificate: VerifiedCertificate };
}

export class TlsSessionCache {
  private readonly entries = new Map<string, Entry>();
  readonly fullHandshakeEveryMs: number;
  private readonly maxEntries: number;

  constructor(opts: { fullHandshakeEveryMs?: number; maxEntries?: number } = {}) {
    this.fullHandshakeEveryMs = opts.fullHandshakeEveryMs ?? DEFAULT_FULL_HANDSHAKE_EVERY_MS;
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_SESSIONS;
  }

  /**
   * A session to offer, and the verdicts to use if the server resumes it; undefined means a
   * full handshake is due. `against` names what the certificate is judged against.
   */
  lookup(key: string, against: string, now: number): { session: Buffer; certificate: VerifiedCertificate } | undefined {
    const e = this.entries.get(key);
    if (!e?.session || !e.verified || e.verified.against !== against) return undefined;
    if (now - e.verified.certificate.at >= this.fullHandshakeEveryMs) return undefined;
    return { session: e.session, certificate: e.verified.certificate };
  }

  /** The verdicts of a full handshake. */
  verified(key: string, against: string, certificate: VerifiedCertificate): void {
    this.touch(key).verified = { against, certificate };
  }

  /** A session ticket the server sent, for the endpoint's next probe. */
  session(key: string, session: Buffer): void {
    this.touch(key).session = session;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry, moved to the young end; the oldest entry goes when the cache is full. */
  private touch(key: string): Entry {
    const e = this.entries.get(key) ?? {};
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    return e;
  }
}
