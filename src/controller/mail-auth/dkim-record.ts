// DKIM key records (RFC 6376 3.6.1, RFC 8463 for ed25519) and whether one carries the
// public half of the relay's signing key. Pure except for node:crypto's key parsing.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { parseTagList } from './tag-list.js';

export type DkimKeyType = 'rsa' | 'ed25519';

export type DkimRecord =
  | { ok: true; keyType: DkimKeyType; /** Decoded p=; empty when revoked. */ publicKey: Buffer; revoked: boolean }
  | { ok: false; error: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function parseDkimRecord(record: string): DkimRecord {
  const parsed = parseTagList(record);
  if (!parsed.ok) return parsed;
  const { tags, order } = parsed;
  const version = tags.get('v');
  if (version !== undefined && (version !== 'DKIM1' || order[0] !== 'v')) return { ok: false, error: 'v= must be the first tag and read DKIM1' };
  const keyType = (tags.get('k') ?? 'rsa').toLowerCase();
  if (keyType !== 'rsa' && keyType !== 'ed25519') return { ok: false, error: `unsupported key type k=${keyType}` };
  const p = tags.get('p');
  if (p === undefined) return { ok: false, error: 'no p= tag' };
  const base64 = p.replace(/\s+/g, ''); // folding whitespace inside p= is allowed
  if (!BASE64.test(base64)) return { ok: false, error: 'p= is not base64' };
  const publicKey = Buffer.from(base64, 'base64');
  if (base64 !== '' && publicKey.length === 0) return { ok: false, error: 'p= is not base64' };
  return { ok: true, keyType, publicKey, revoked: publicKey.length === 0 };
}

/**
 * The public key of a PEM private key, as SubjectPublicKeyInfo DER. The operator keeps
 * only this (public) value, never the private key it was derived from.
 */
export function publicKeyOfPrivateKey(privateKeyPem: string): Buffer {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'der' });
}

function spkiOf(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

/** The key of p= as SPKI DER, or undefined when it is no key of its k= type. */
function recordKeyAsSpki(keyType: DkimKeyType, publicKey: Buffer): Buffer | undefined {
  try {
    if (keyType === 'ed25519') {
      // RFC 8463: p= is the bare 32-byte key, not SubjectPublicKeyInfo.
      if (publicKey.length !== 32) return undefined;
      return spkiOf(createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicKey.toString('base64url') }, format: 'jwk' }));
    }
    let key: KeyObject;
    try {
      key = createPublicKey({ key: publicKey, format: 'der', type: 'spki' });
    } catch {
      // Some publishers put a bare PKCS#1 RSAPublicKey in p=; verifiers in the wild accept it.
      key = createPublicKey({ key: publicKey, format: 'der', type: 'pkcs1' });
    }
    return key.asymmetricKeyType === 'rsa' ? spkiOf(key) : undefined;
  } catch {
    return undefined;
  }
}

export type KeyComparison = 'match' | 'mismatch' | 'unparsable';

/** Whether a parsed, non-revoked record publishes `expectedSpki` (SPKI DER). */
export function compareDkimKey(record: { keyType: DkimKeyType; publicKey: Buffer }, expectedSpki: Buffer): KeyComparison {
  const published = recordKeyAsSpki(record.keyType, record.publicKey);
  if (!published) return 'unparsable';
  return published.equals(expectedSpki) ? 'match' : 'mismatch';
}

/** The TXT record to publish for a key (SPKI DER): what a message tells the operator's user. */
export function dkimRecordFor(expectedSpki: Buffer): string {
  const key = createPublicKey({ key: expectedSpki, format: 'der', type: 'spki' });
  if (key.asymmetricKeyType === 'ed25519') {
    const raw = Buffer.from(key.export({ format: 'jwk' }).x ?? '', 'base64url');
    return `v=DKIM1; k=ed25519; p=${raw.toString('base64')}`;
  }
  return `v=DKIM1; k=rsa; p=${expectedSpki.toString('base64')}`;
}
