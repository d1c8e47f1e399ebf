// The prober's inputs and results. Plain data: results go to JSON, to the
// report renderer and to the SmtpRelay status unchanged.
import type { ReasonCode } from './reasons.js';
import type { TlsSessionCache } from './session-cache.js';

export type ProbeMode = 'starttls' | 'implicit';
export type CheckOutcome = 'pass' | 'warn' | 'fail';
/** Overall outcome; `fail` also covers "could not probe". */
export type Verdict = 'healthy' | 'warning' | 'failing';

export interface CheckResult {
  /** Stable check name, e.g. `certificate-expiry`. */
  check: string;
  result: CheckOutcome;
  /** Set when result is warn or fail. */
  reason?: ReasonCode;
  /** What was seen, for people. */
  message: string;
}

export interface ProbeOptions {
  host: string;
  port: number;
  mode: ProbeMode;
  /** Name for SNI and the hostname check; defaults to host (when host is not an IP). */
  servername?: string;
  /** Extra trusted CA certificates (PEM), on top of the system roots. */
  caPem?: string[];
  /** SHA-256 of the expected leaf DER, lower-case hex without colons. */
  expectedFingerprint?: string;
  /** Warn when a certificate expires within this many ms. Default 14 days. */
  expiryWarningMs?: number;
  /** Budget for the whole probe and for each step. Default 10 s overall. */
  timeoutMs?: number;
  /** The endpoint is a relay listener that authorises by address and sender domain: no AUTH is expected after TLS. */
  unauthenticatedListener?: boolean;
  /** EHLO name we announce. */
  ehloName?: string;
  /** Clock, for tests. */
  now?: () => Date;
  /** Resume TLS sessions across probes of the same endpoint; certificate verdicts then come from the last full handshake (session-cache.ts). */
  sessions?: TlsSessionCache;
}

export interface CertificateInfo {
  subject: string;
  issuer: string;
  subjectAltName?: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER, lower-case hex without colons. */
  fingerprint: string;
  keyType?: string;
  keyBits?: number;
  signatureAlgorithm?: string;
}

export interface TlsFacts {
  protocol?: string;
  cipher?: string;
  /** Key-exchange group, e.g. X25519MLKEM768, X25519, P-256, or DH. */
  group?: string;
  /** The group is a post-quantum hybrid. */
  pq?: boolean;
  /** Served chain, leaf first. */
  chain: CertificateInfo[];
  hostnameVerified?: boolean;
  chainVerified?: boolean;
  /** OpenSSL's verdict for the handshake, e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
  authorizationError?: string;
}

export interface ProbeResult {
  target: { host: string; port: number; mode: ProbeMode; servername?: string };
  startedAt: string;
  latencyMs: number;
  handshakes: number;
  /** SMTP facts seen on the way. */
  smtp: { banner?: string; extensionsBeforeTls?: string[]; extensionsAfterTls?: string[] };
  tls?: TlsFacts;
  checks: CheckResult[];
  verdict: Verdict;
  /** The TLS session was resumed: the certificate checks repeat the full handshake's verdicts from certificateVerifiedAt. */
  resumed?: boolean;
  /** When the certificate checks were made by a full handshake (ISO); the probe's own start unless resumed. */
  certificateVerifiedAt?: string;
}

export interface DeepScanResult {
  target: { host: string; port: number; mode: ProbeMode; servername?: string };
  startedAt: string;
  durationMs: number;
  handshakes: number;
  protocols: Record<'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3', HandshakeAttempt>;
  cipherClasses: Record<string, HandshakeAttempt>;
  groups: Record<string, HandshakeAttempt>;
  renegotiation?: { secureRenegotiation?: boolean; clientInitiated: 'refused' | 'allowed' | 'unknown'; detail: string };
  injection?: { vulnerable: boolean; detail: string };
  ocspStapled?: boolean;
  certificate?: CertificateInfo;
  checks: CheckResult[];
  verdict: Verdict;
}

/** What one constrained handshake showed. */
export interface HandshakeAttempt {
  /** accepted: handshake done; refused: the server said no; local: our side could not offer it; error: something else. */
  outcome: 'accepted' | 'refused' | 'local' | 'error';
  detail: string;
  protocol?: string;
  cipher?: string;
  group?: string;
}
