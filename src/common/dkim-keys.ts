// GET /dkim on the relay's metrics port: the public halves of the relay's DKIM signing keys.
// The operator compares them with the DNS records (controller/mail-auth) without ever
// reading a DKIM private key: the relay, which holds the keys, publishes what is public.

export const DKIM_PATH = '/dkim';

export interface DkimPublicKey {
  /** Signing domain (d=), lower case. */
  domain: string;
  selector: string;
  /** SubjectPublicKeyInfo DER, base64. */
  publicKey: string;
}

export interface DkimPublicKeys {
  keys: DkimPublicKey[];
}
