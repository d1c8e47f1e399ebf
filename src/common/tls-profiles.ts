// Mozilla Server Side TLS guidelines 6.0 (https://ssl-config.mozilla.org/guidelines/6.0.json)
// as plain data, shared by the relay (what it serves) and the prober (what it expects).
// Pure module: no I/O, no Node TLS objects.

export const MOZILLA_GUIDELINES_VERSION = '6.0';

export type TlsProfileName = 'intermediate' | 'modern';
export type TlsVersionName = 'TLSv1.2' | 'TLSv1.3';

export interface TlsProfile {
  name: TlsProfileName;
  /** Lowest protocol version the profile allows. */
  minVersion: TlsVersionName;
  /** TLS 1.3 suites (IANA names, which OpenSSL also uses). */
  tls13Ciphersuites: readonly string[];
  /** TLS 1.2 suites, OpenSSL names. Empty for modern (TLS 1.3 only). */
  tls12Ciphers: readonly string[];
  /** TLS 1.2 suites, IANA names (same order as tls12Ciphers). */
  tls12CiphersIana: readonly string[];
  /** Key exchange groups in preference order, OpenSSL names. */
  groups: readonly string[];
  /** Mozilla: "server_preferred_order": false for both profiles, the client chooses. */
  serverPreferredOrder: boolean;
}

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;
// The PQ hybrid first: Node 24 (OpenSSL 3.5) negotiates it with capable clients.
const GROUPS = ['X25519MLKEM768', 'X25519', 'prime256v1', 'secp384r1'] as const;

export const TLS_PROFILES: Readonly<Record<TlsProfileName, TlsProfile>> = {
  intermediate: {
    name: 'intermediate',
    minVersion: 'TLSv1.2',
    tls13Ciphersuites: TLS13_SUITES,
    // All ECDHE + AEAD: no static RSA key exchange, no CBC, no SHA-1 MACs, no kDHE (removed in 5.8).
    tls12Ciphers: [
      'ECDHE-ECDSA-AES128-GCM-SHA256',
      'ECDHE-RSA-AES128-GCM-SHA256',
      'ECDHE-ECDSA-AES256-GCM-SHA384',
      'ECDHE-RSA-AES256-GCM-SHA384',
      'ECDHE-ECDSA-CHACHA20-POLY1305',
      'ECDHE-RSA-CHACHA20-POLY1305',
    ],
    tls12CiphersIana: [
      'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
      'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
      'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
    ],
    groups: GROUPS,
    serverPreferredOrder: false,
  },
  modern: {
    name: 'modern',
    minVersion: 'TLSv1.3',
    tls13Ciphersuites: TLS13_SUITES,
    tls12Ciphers: [],
    tls12CiphersIana: [],
    groups: GROUPS,
    serverPreferredOrder: false,
  },
};

const VERSION_ORDER: Record<TlsVersionName, number> = { 'TLSv1.2': 2, 'TLSv1.3': 3 };

/** The stricter of the profile's floor and the requested minimum. */
export function effectiveMinVersion(profile: TlsProfileName, requested: TlsVersionName = 'TLSv1.2'): TlsVersionName {
  const floor = TLS_PROFILES[profile].minVersion;
  return VERSION_ORDER[requested] > VERSION_ORDER[floor] ? requested : floor;
}

/** Node's `ciphers` option: TLS 1.3 suites and TLS 1.2 ciphers in one colon list. */
export function nodeCipherList(profile: TlsProfileName): string {
  const p = TLS_PROFILES[profile];
  return [...p.tls13Ciphersuites, ...p.tls12Ciphers].join(':');
}

/** Node's `ecdhCurve` option. */
export function nodeGroupList(profile: TlsProfileName): string {
  return TLS_PROFILES[profile].groups.join(':');
}

/** True if a negotiated cipher (OpenSSL or IANA name) is one the profile allows. */
export function isProfileCipher(profile: TlsProfileName, cipher: string): boolean {
  const p = TLS_PROFILES[profile];
  return p.tls13Ciphersuites.includes(cipher) || p.tls12Ciphers.includes(cipher) || p.tls12CiphersIana.includes(cipher);
}
