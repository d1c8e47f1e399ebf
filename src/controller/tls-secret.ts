// Facts about a relay's TLS Secret (the only Secret the operator reads in full; see
// docs/security.md, "What the operator reads"), read once per resourceVersion: which
// keys it has, the leaf certificate's validity and fingerprint, and the public ca.crt.
// The bytes (tls.key included, the API cannot leave it out) are parsed and dropped.
import { X509Certificate } from 'node:crypto';
import type { TlsSecretFacts } from './status.js';

export interface SecretFacts {
  resourceVersion: string;
  keys: string[];
  /** Present when tls.crt holds a parsable PEM certificate. */
  tls?: TlsSecretFacts;
  /** Why tls.crt could not be used, when it could not. */
  tlsError?: string;
  /** ca.crt (public: the issuing CA), kept so the prober can trust it. */
  caPem?: string;
}

/** Parse the first certificate of a PEM bundle (the leaf). Throws with a readable message. */
export function leafCertificateFacts(pem: string): TlsSecretFacts {
  const match = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error('tls.crt holds no PEM certificate');
  const cert = new X509Certificate(match[0]);
  return {
    notBefore: new Date(cert.validFrom).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    notAfter: new Date(cert.validTo).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
  };
}

/** Facts from a Secret's data map (base64 values, as the API returns them). */
export function secretFacts(resourceVersion: string, data: Record<string, string> | undefined): SecretFacts {
  const keys = Object.keys(data ?? {}).sort();
  const facts: SecretFacts = { resourceVersion, keys };
  const ca = data?.['ca.crt'];
  if (ca) facts.caPem = Buffer.from(ca, 'base64').toString('utf8');
  const crt = data?.['tls.crt'];
  if (crt !== undefined) {
    try {
      facts.tls = leafCertificateFacts(Buffer.from(crt, 'base64').toString('utf8'));
    } catch (err) {
      facts.tlsError = err instanceof Error ? err.message : String(err);
    }
  }
  return facts;
}

/** Remembers facts per Secret and resourceVersion, so an unchanged Secret is read once. */
export class SecretFactsCache {
  private readonly entries = new Map<string, SecretFacts>();

  constructor(private readonly read: (namespace: string, name: string) => Promise<{ resourceVersion: string; data?: Record<string, string> } | undefined>) {}

  async get(namespace: string, name: string, resourceVersion: string): Promise<SecretFacts | undefined> {
    const key = `${namespace}/${name}`;
    const cached = this.entries.get(key);
    if (cached && cached.resourceVersion === resourceVersion) return cached;
    const secret = await this.read(namespace, name);
    if (!secret) {
      this.entries.delete(key);
      return undefined;
    }
    const facts = secretFacts(secret.resourceVersion, secret.data);
    this.entries.set(key, facts);
    return facts;
  }

  forget(namespace: string, name: string): void {
    this.entries.delete(`${namespace}/${name}`);
  }
}
