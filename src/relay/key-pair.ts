// The relay's server TLS: a key pair from the TLS dir turned into the options every
// listener uses, checked before it is ever served.
import crypto from 'node:crypto';
import tls from 'node:tls';
import { effectiveMinVersion, nodeCipherList, nodeGroupList, TLS_PROFILES, type TlsProfileName, type TlsVersionName } from '../common/tls-profiles.js';
import type { DirSnapshot } from './secret-dir.js';

export const TLS_FILES = ['tls.crt', 'tls.key'] as const;

export interface ServerTlsOptions extends tls.SecureContextOptions {
  key: Buffer;
  cert: Buffer;
  minVersion: TlsVersionName;
  ciphers: string;
  ecdhCurve: string;
  honorCipherOrder: boolean;
  secureOptions: number;
}

export interface LoadedKeyPair {
  options: ServerTlsOptions;
  /** The leaf certificate. */
  leaf: crypto.X509Certificate;
  notAfter: Date;
  /** SHA-256 of the leaf DER, lower-case hex without colons. */
  fingerprint: string;
}

/** Policy options shared by every server TLS context, key pair aside. */
export function tlsPolicyOptions(profile: TlsProfileName, minVersion: TlsVersionName) {
  return {
    minVersion: effectiveMinVersion(profile, minVersion),
    ciphers: nodeCipherList(profile),
    ecdhCurve: nodeGroupList(profile),
    // Mozilla 6.0: the client chooses among the (all strong) suites.
    honorCipherOrder: TLS_PROFILES[profile].serverPreferredOrder,
    // No renegotiation at all (TLS 1.2 client-initiated renegotiation is a DoS lever);
    // no compression (CRIME) is OpenSSL 3's default anyway.
    secureOptions: crypto.constants.SSL_OP_NO_RENEGOTIATION | crypto.constants.SSL_OP_NO_COMPRESSION,
  };
}

/**
 * Validates a key pair snapshot: both PEMs parse, the key matches the leaf, and Node
 * accepts the whole thing as a secure context under our policy. Throws a readable error.
 */
export function buildKeyPair(snap: DirSnapshot, profile: TlsProfileName, minVersion: TlsVersionName): LoadedKeyPair {
  const cert = snap.files.get('tls.crt');
  const key = snap.files.get('tls.key');
  if (!cert?.length) throw new Error('tls.crt is missing or empty');
  if (!key?.length) throw new Error('tls.key is missing or empty');
  let leaf: crypto.X509Certificate;
  try {
    leaf = new crypto.X509Certificate(cert);
  } catch (err) {
    throw new Error(`tls.crt is not a PEM certificate: ${(err as Error).message}`);
  }
  let privateKey: crypto.KeyObject;
  try {
    privateKey = crypto.createPrivateKey(key);
  } catch (err) {
    throw new Error(`tls.key is not a PEM private key: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw new Error('tls.key does not match the certificate in tls.crt');
  const options: ServerTlsOptions = { key, cert, ...tlsPolicyOptions(profile, minVersion) };
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new Error(`the key pair is not usable for TLS: ${(err as Error).message}`);
  }
  return {
    options,
    leaf,
    notAfter: new Date(leaf.validTo),
    fingerprint: crypto.createHash('sha256').update(leaf.raw).digest('hex'),
  };
}
