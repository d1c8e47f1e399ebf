// RS256 JSON Web Tokens signed with node:crypto (RFC 7515/7519), and the certificate
// thumbprints Microsoft expects in the header of a client assertion.
import { X509Certificate, createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';

export function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export type JwtClaims = Record<string, string | number | boolean | string[]>;

/** header.payload.signature with alg RS256; `typ: JWT` and `alg` are set here. */
export function signRs256Jwt(header: Record<string, string>, claims: JwtClaims, privateKey: KeyObject | string): string {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`RS256 needs an RSA private key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  const signingInput = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...header }))}.${base64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(signingInput), key);
  return `${signingInput}.${base64url(signature)}`;
}

/** `x5t` (SHA-1) and `x5t#S256` (SHA-256) of the DER certificate, base64url (RFC 7515 4.1.7/4.1.8). */
export function certificateThumbprints(certificatePem: string): { x5t: string; x5tS256: string } {
  const der = new X509Certificate(certificatePem).raw;
  return {
    x5t: base64url(createHash('sha1').update(der).digest()),
    x5tS256: base64url(createHash('sha256').update(der).digest()),
  };
}

/** Claims of a JWT without checking its signature: for tests and diagnostics only. */
export function decodeJwtUnverified(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  if (!h || !p) throw new Error('not a JWT');
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')), claims: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) };
}
