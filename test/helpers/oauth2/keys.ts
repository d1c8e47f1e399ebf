// RSA test credentials for the OAuth2 flows (RS256 needs RSA; the test CA's leaves are ECDSA):
// a self-signed client certificate (Microsoft's certificate credential) and a Google-style
// service account key file. Public halves as JWKs for Hydra.
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface RsaCertificate {
  key: string;
  cert: string;
}

export function rsaSelfSignedCertificate(dir: string, cn: string): RsaCertificate {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', 'client.key', '-out', 'client.crt'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  return { key: fs.readFileSync(path.join(dir, 'client.key'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'client.crt'), 'utf8') };
}

/** The public key as a JWK with the given kid, for Hydra's client jwks or a jwt-bearer trust. */
export function publicJwk(privateOrCertPem: string, kid: string): object {
  return { ...createPublicKey(privateOrCertPem).export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

export interface ServiceAccountKey {
  json: string;
  clientEmail: string;
  privateKeyId: string;
  privateKey: string;
}

/** A key file shaped like Google's (type service_account), pointing at a test token endpoint. */
export function serviceAccountKey(dir: string, clientEmail: string, tokenUri: string): ServiceAccountKey {
  const { key } = rsaSelfSignedCertificate(dir, clientEmail);
  const privateKeyId = randomUUID().replace(/-/g, '');
  const json = JSON.stringify({ type: 'service_account', project_id: 'relay-tests', private_key_id: privateKeyId, private_key: key, client_email: clientEmail, client_id: '1000000000000000000', token_uri: tokenUri }, null, 2);
  return { json, clientEmail, privateKeyId, privateKey: key };
}
