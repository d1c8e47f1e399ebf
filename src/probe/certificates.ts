// Certificate facts and checks. Pure functions over X509Certificate objects,
// so the handshake can run with rejectUnauthorized:false and one connection
// still yields every verdict (expiry, trust, hostname, fingerprint).
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { CertificateInfo, CheckResult } from './types.js';

export const DAY_MS = 24 * 60 * 60 * 1000;

/** SHA-256 of the DER, lower-case hex without colons (the form the API uses). */
export function fingerprintOf(cert: X509Certificate): string {
  return cert.fingerprint256.replace(/:/g, '').toLowerCase();
}

/** Accepts `AB:CD:...`, `abcd...`, with or without a `sha256:` prefix. */
export function normalizeFingerprint(value: string): string | undefined {
  const hex = value.trim().replace(/^sha-?256[:=]/i, '').replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

export function certificateInfo(cert: X509Certificate): CertificateInfo {
  const details = cert.publicKey.asymmetricKeyDetails;
  const keyType = cert.publicKey.asymmetricKeyType;
  return {
    subject: oneLine(cert.subject),
    issuer: oneLine(cert.issuer),
    subjectAltName: cert.subjectAltName,
    notBefore: cert.validFromDate.toISOString(),
    notAfter: cert.validToDate.toISOString(),
    fingerprint: fingerprintOf(cert),
    keyType,
    keyBits: details?.modulusLength ?? curveBits(details?.namedCurve) ?? (keyType === 'ed25519' ? 256 : keyType === 'ed448' ? 448 : undefined),
    signatureAlgorithm: cert.signatureAlgorithm,
  };
}

/** A certificate may have an empty subject (RFC 5280 4.1.2.6: the names are in the SAN); Node then gives undefined. */
function oneLine(dn: string | undefined): string {
  return (dn ?? '').split('\n').filter(Boolean).join(', ');
}

function curveBits(curve: string | undefined): number | undefined {
  if (!curve) return undefined;
  const m = /(\d{3})/.exec(curve);
  return m ? Number(m[1]) : undefined;
}

/** What the expiry check reads of a certificate (an X509Certificate has it; a resumed probe keeps only this). */
export type Dated = Pick<X509Certificate, 'subject' | 'validFromDate' | 'validToDate'>;

/** The parts of each certificate checkExpiry needs, without the certificate. */
export function datesOf(chain: Dated[]): Dated[] {
  return chain.map((c) => ({ subject: c.subject, validFromDate: c.validFromDate, validToDate: c.validToDate }));
}

/** Expiry over the whole chain: fail if any certificate is expired or not yet valid, warn within the warning period. */
export function checkExpiry(chain: Dated[], now: Date, warningMs: number): CheckResult {
  const check = 'certificate-expiry';
  if (chain.length === 0) return { check, result: 'fail', reason: 'validation-failure', message: 'the server sent no certificate' };
  for (const cert of chain) {
    if (cert.validToDate.getTime() <= now.getTime()) {
      return { check, result: 'fail', reason: 'certificate-expired', message: `${describe(cert)} expired on ${cert.validToDate.toISOString()}` };
    }
    if (cert.validFromDate.getTime() > now.getTime()) {
      return { check, result: 'fail', reason: 'certificate-not-yet-valid', message: `${describe(cert)} is valid only from ${cert.validFromDate.toISOString()}` };
    }
  }
  const soonest = chain.reduce((a, b) => (b.validToDate < a.validToDate ? b : a));
  const daysLeft = (soonest.validToDate.getTime() - now.getTime()) / DAY_MS;
  if (soonest.validToDate.getTime() - now.getTime() < warningMs) {
    return { check, result: 'warn', reason: 'certificate-expiring-soon', message: `${describe(soonest)} expires in ${daysLeft.toFixed(1)} days (${soonest.validToDate.toISOString()})` };
  }
  return { check, result: 'pass', message: `chain valid until ${soonest.validToDate.toISOString()} (${Math.floor(daysLeft)} days)` };
}

function describe(cert: Pick<X509Certificate, 'subject'>): string {
  const cn = /CN=([^\n,]+)/.exec(cert.subject)?.[1];
  return `certificate ${cn ? `"${cn}"` : oneLine(cert.subject)}`;
}

export interface TrustVerdict {
  trusted: boolean;
  /** Why not, in words. */
  detail: string;
  /** Why not, as a code: self-signed, unknown-issuer, bad-signature. */
  problem?: 'self-signed' | 'unknown-issuer' | 'bad-signature';
}

/**
 * Walk from the leaf through the certificates the server sent to a trust anchor,
 * checking each signature. Validity dates are left to checkExpiry, so an expired
 * but otherwise trusted chain reports `certificate-expired`, not "untrusted".
 */
export function evaluateTrust(served: X509Certificate[], anchors: readonly X509Certificate[]): TrustVerdict {
  const leaf = served[0];
  if (!leaf) return { trusted: false, detail: 'no certificate', problem: 'unknown-issuer' };
  const { prints: anchorPrints, bySubject } = anchorIndex(anchors);
  let current = leaf;
  const seen = new Set<string>();
  for (let depth = 0; depth < 10; depth++) {
    const print = fingerprintOf(current);
    if (anchorPrints.has(print)) return { trusted: true, detail: `chain ends at trusted ${describe(current)}` };
    seen.add(print);
    // Only anchors named as the issuer can have issued it (checkIssued compares the names first).
    const anchor = bySubject.get(nameKey(current.issuer))?.find((a) => signedBy(current, a));
    if (anchor) return { trusted: true, detail: `issued by trusted ${describe(anchor)}` };
    const issuer = served.find((c) => !seen.has(fingerprintOf(c)) && signedBy(current, c));
    if (!issuer) {
      if (current.checkIssued(current)) {
        return { trusted: false, problem: 'self-signed', detail: `${describe(current)} is self-signed and not a trusted root` };
      }
      const named = served.find((c) => !seen.has(fingerprintOf(c)) && c.checkIssued(current));
      if (named) return { trusted: false, problem: 'bad-signature', detail: `the signature on ${describe(current)} does not verify with its issuer's key` };
      return { trusted: false, problem: 'unknown-issuer', detail: `issuer of ${describe(current)} (${oneLine(current.issuer)}) was not sent by the server and is not a trusted root (missing intermediate or unknown CA)` };
    }
    current = issuer;
  }
  return { trusted: false, problem: 'unknown-issuer', detail: 'chain longer than 10 certificates' };
}

interface AnchorIndex {
  prints: Set<string>;
  bySubject: Map<string, X509Certificate[]>;
}

const anchorIndexes = new WeakMap<readonly X509Certificate[], AnchorIndex>();

/**
 * Fingerprints and subjects of an anchor list, computed once per list: the walk runs on every
 * probe, and hashing ~150 system roots each time was most of a probe's CPU.
 */
function anchorIndex(anchors: readonly X509Certificate[]): AnchorIndex {
  let index = anchorIndexes.get(anchors);
  if (!index) {
    index = { prints: new Set(anchors.map(fingerprintOf)), bySubject: new Map() };
    for (const a of anchors) {
      const key = nameKey(a.subject);
      index.bySubject.set(key, [...(index.bySubject.get(key) ?? []), a]);
    }
    anchorIndexes.set(anchors, index);
  }
  return index;
}

/** A distinguished name compared as OpenSSL's canonical form roughly does: case and runs of spaces ignored. */
function nameKey(dn: string | undefined): string {
  return (dn ?? '').toLowerCase().replace(/\s+/g, ' ').trim();
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

export function checkTrust(verdict: TrustVerdict): CheckResult {
  const check = 'certificate-trust';
  if (verdict.trusted) return { check, result: 'pass', message: verdict.detail };
  return { check, result: 'fail', reason: verdict.problem === 'bad-signature' ? 'validation-failure' : 'certificate-not-trusted', message: verdict.detail };
}

/** Hostname check with Node's own RFC 6125 logic. */
export function checkHostname(name: string, leaf: X509Certificate | undefined): CheckResult {
  const check = 'certificate-hostname';
  if (!leaf) return { check, result: 'fail', reason: 'certificate-host-mismatch', message: 'no certificate to check' };
  const err = tls.checkServerIdentity(name, leaf.toLegacyObject());
  if (err) return { check, result: 'fail', reason: 'certificate-host-mismatch', message: `${name}: ${err.message}` };
  return { check, result: 'pass', message: `certificate covers ${name}` };
}

export function checkFingerprint(leaf: X509Certificate | undefined, expected: string | undefined): CheckResult | undefined {
  if (!expected) return undefined;
  const check = 'certificate-fingerprint';
  const served = leaf ? fingerprintOf(leaf) : 'none';
  if (served === expected) return { check, result: 'pass', message: `served certificate is the expected one (${served.slice(0, 16)}...)` };
  return { check, result: 'fail', reason: 'stale-certificate-served', message: `served ${served}, expected ${expected}` };
}

/** Key size (RSA >= 2048, EC >= 256) and signature algorithm (no SHA-1/MD5) over the served chain. */
export function checkKeyAndSignature(served: X509Certificate[]): CheckResult[] {
  const results: CheckResult[] = [];
  const leaf = served[0];
  if (leaf) {
    const info = certificateInfo(leaf);
    const min = info.keyType === 'rsa' || info.keyType === 'rsa-pss' || info.keyType === 'dsa' ? 2048 : 256;
    const ok = info.keyBits !== undefined && info.keyBits >= min;
    results.push(
      ok
        ? { check: 'certificate-key', result: 'pass', message: `${info.keyType} ${info.keyBits} bits` }
        : { check: 'certificate-key', result: 'fail', reason: 'weak-certificate-key', message: `${info.keyType} ${info.keyBits ?? '?'} bits (minimum ${min})` },
    );
  }
  // A self-signed root's own signature does not matter; everything below it does.
  const weak = served.filter((c) => !c.checkIssued(c) && /sha1|md5|md2/i.test(c.signatureAlgorithm ?? ''));
  results.push(
    weak.length === 0
      ? { check: 'certificate-signature', result: 'pass', message: served.map((c) => c.signatureAlgorithm ?? '?').join(', ') }
      : { check: 'certificate-signature', result: 'fail', reason: 'weak-certificate-signature', message: weak.map((c) => `${describe(c)}: ${c.signatureAlgorithm}`).join('; ') },
  );
  return results;
}

let systemAnchors: X509Certificate[] | undefined;

/** System roots (Node's bundled store plus the OS store), parsed once per process. */
export function systemTrustAnchors(): X509Certificate[] {
  if (!systemAnchors) {
    const bundled = typeof tls.getCACertificates === 'function' ? tls.getCACertificates('default') : [...tls.rootCertificates];
    const pems = new Set<string>([...bundled, ...safeSystemStore()]);
    systemAnchors = [...pems].flatMap((pem) => parsePemCertificates(pem));
  }
  return systemAnchors;
}

function safeSystemStore(): string[] {
  try {
    return typeof tls.getCACertificates === 'function' ? tls.getCACertificates('system') : [];
  } catch {
    return [];
  }
}

/** All certificates in a PEM bundle; throws a clear error on bad input. */
export function parsePemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}
