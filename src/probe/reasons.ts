// Every reason code the prober can report, with one human sentence each.
// Codes marked tlsrpt are the result types of RFC 8460 (SMTP TLS Reporting),
// so reports line up with what receiving MTAs send; the others are ours.

export interface ReasonInfo {
  /** One sentence a person reads in the report. */
  sentence: string;
  /** The code is an RFC 8460 result type. */
  tlsrpt: boolean;
}

export const REASONS = {
  // RFC 8460 result types
  'starttls-not-supported': { tlsrpt: true, sentence: 'The server does not offer STARTTLS, so mail to it travels in plaintext.' },
  'certificate-expired': { tlsrpt: true, sentence: 'A certificate in the served chain has expired.' },
  'certificate-host-mismatch': { tlsrpt: true, sentence: 'The certificate does not cover the expected host name.' },
  'certificate-not-trusted': { tlsrpt: true, sentence: 'The certificate chain does not lead to a trusted root (self-signed, unknown CA or missing intermediate).' },
  'validation-failure': { tlsrpt: true, sentence: 'The certificate chain could not be validated.' },
  // Our own codes
  'certificate-expiring-soon': { tlsrpt: false, sentence: 'A certificate in the served chain expires within the warning period; renew it.' },
  'certificate-not-yet-valid': { tlsrpt: false, sentence: 'A certificate in the served chain is not valid yet (check the issuer clock or the deployment).' },
  'stale-certificate-served': { tlsrpt: false, sentence: 'The server presents a different certificate than expected: a rotated certificate has not been picked up.' },
  'weak-certificate-key': { tlsrpt: false, sentence: 'The certificate key is too small (RSA below 2048 bits or EC below 256 bits).' },
  'weak-certificate-signature': { tlsrpt: false, sentence: 'A certificate in the chain is signed with a weak algorithm (SHA-1 or MD5).' },
  'auth-before-tls': { tlsrpt: false, sentence: 'The server offers or accepts AUTH before TLS, exposing passwords in plaintext.' },
  'open-relay': { tlsrpt: false, sentence: 'The server accepted a recipient at an outside domain from an outside sender without authentication: it is an open relay and will be abused for spam.' },
  'client-refused': { tlsrpt: false, sentence: "The server refused the prober's address at the greeting (554), so the SMTP checks after it could not run from here; allow that address to check this endpoint." },
  'auth-not-offered': { tlsrpt: false, sentence: 'The server does not offer AUTH after TLS, so clients cannot authenticate.' },
  'starttls-after-tls': { tlsrpt: false, sentence: 'The server still advertises STARTTLS inside the TLS session.' },
  'plaintext-on-implicit-port': { tlsrpt: false, sentence: 'The implicit-TLS port answers in plaintext instead of starting TLS.' },
  'starttls-injection': { tlsrpt: false, sentence: 'Commands sent before the TLS handshake are executed inside the TLS session (STARTTLS command injection, CVE-2011-0411 class).' },
  'legacy-protocol-accepted': { tlsrpt: false, sentence: 'The server accepts TLS 1.0 or TLS 1.1, which are deprecated (RFC 8996).' },
  'modern-protocol-missing': { tlsrpt: false, sentence: 'The server does not support TLS 1.2 or TLS 1.3.' },
  'weak-cipher-accepted': { tlsrpt: false, sentence: 'The server accepts a weak cipher suite (static RSA key exchange, CBC with SHA-1, or CCM_8).' },
  'no-forward-secrecy': { tlsrpt: false, sentence: 'The negotiated key exchange has no forward secrecy.' },
  'weak-key-exchange-group': { tlsrpt: false, sentence: 'The server supports none of the recommended key-exchange groups (X25519MLKEM768, X25519, P-256).' },
  'client-renegotiation-allowed': { tlsrpt: false, sentence: 'The server allows client-initiated renegotiation, which lets a client burn server CPU.' },
  'insecure-renegotiation': { tlsrpt: false, sentence: 'The server does not support secure renegotiation (RFC 5746).' },
  'ocsp-not-stapled': { tlsrpt: false, sentence: 'The server does not staple an OCSP response (informational).' },
  timeout: { tlsrpt: false, sentence: 'The server did not answer in time.' },
  'protocol-error': { tlsrpt: false, sentence: 'The server answered with something that is not valid SMTP or TLS.' },
  'connection-refused': { tlsrpt: false, sentence: 'The connection was refused or reset; nothing accepts connections on that address.' },
  'dns-failure': { tlsrpt: false, sentence: 'The host name could not be resolved.' },
  'tls-handshake-failed': { tlsrpt: false, sentence: 'The TLS handshake failed.' },
} as const satisfies Record<string, ReasonInfo>;

export type ReasonCode = keyof typeof REASONS;

export function reasonSentence(code: ReasonCode): string {
  return REASONS[code].sentence;
}

export function isReasonCode(value: string): value is ReasonCode {
  return Object.hasOwn(REASONS, value);
}
