// The plain connection the kubeconfig child process prints (credentials-child.ts) and the
// operator holds instead of a client-node KubeConfig: where the API server is, how to
// trust it, and who we are. Pure: parse, compare, expiry, redaction.

export interface KubeConnection {
  server: string;
  /** PEM. */
  ca?: string;
  /** Client certificate and key, PEM. */
  cert?: string;
  key?: string;
  tlsServerName?: string;
  insecureSkipTLSVerify?: boolean;
  /** A bearer token (static, from an exec plugin or an auth provider). */
  token?: string;
  /** A file holding the bearer token, re-read by the operator itself (in-cluster projected token, kubeconfig tokenFile). */
  tokenFile?: string;
  /** `user:password` (basic auth). */
  basicAuth?: string;
  /** Other headers the kubeconfig asks for (Impersonate-User). */
  headers?: Record<string, string>;
  /** When the credentials stop working, as the exec plugin said (RFC 3339). */
  expiresAt?: string;
  /** Whether loading the kubeconfig again can give new credentials (exec plugin, auth provider). */
  renewable: boolean;
}

const STRING_FIELDS = ['ca', 'cert', 'key', 'tlsServerName', 'token', 'tokenFile', 'basicAuth', 'expiresAt'] as const;

/** The child's stdout: a connection, or `{ "error": message }`. Throws with the (redacted) message. */
export function parseChildOutput(stdout: string): KubeConnection {
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    throw new Error('the kubeconfig loader printed no JSON');
  }
  if (!json || typeof json !== 'object') throw new Error('the kubeconfig loader printed no object');
  const o = json as Record<string, unknown>;
  if (typeof o.error === 'string') throw new Error(redactSecrets(o.error));
  if (typeof o.server !== 'string' || !/^https?:\/\//.test(o.server)) throw new Error('connection.server must be an http(s) URL');
  for (const f of STRING_FIELDS) {
    if (o[f] !== undefined && typeof o[f] !== 'string') throw new Error(`connection.${f} must be a string`);
  }
  if (o.insecureSkipTLSVerify !== undefined && typeof o.insecureSkipTLSVerify !== 'boolean') throw new Error('connection.insecureSkipTLSVerify must be a boolean');
  if (typeof o.renewable !== 'boolean') throw new Error('connection.renewable must be a boolean');
  if (o.expiresAt !== undefined && Number.isNaN(Date.parse(o.expiresAt as string))) throw new Error('connection.expiresAt must be a date');
  if (o.headers !== undefined) {
    if (!o.headers || typeof o.headers !== 'object' || Object.values(o.headers).some((v) => typeof v !== 'string')) {
      throw new Error('connection.headers must map names to strings');
    }
  }
  return o as unknown as KubeConnection;
}

/** The `exp` of a JWT bearer token (ServiceAccount and OIDC tokens are JWTs), in ms; undefined for other tokens. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** When these credentials stop working (ms), if anything says so: the exec plugin, else the token's own exp claim. */
export function connectionExpiry(c: KubeConnection): number | undefined {
  if (c.expiresAt) return Date.parse(c.expiresAt);
  return c.token ? jwtExpiry(c.token) : undefined;
}

/** Same TLS material: the same https.Agent can keep serving. */
export function sameTls(a: KubeConnection, b: KubeConnection): boolean {
  return a.server === b.server && a.ca === b.ca && a.cert === b.cert && a.key === b.key && a.tlsServerName === b.tlsServerName && a.insecureSkipTLSVerify === b.insecureSkipTLSVerify;
}

/** Same identity: a retry with b would send exactly what a sent. */
export function sameCredentials(a: KubeConnection, b: KubeConnection): boolean {
  return (
    sameTls(a, b) &&
    a.token === b.token &&
    a.tokenFile === b.tokenFile &&
    a.basicAuth === b.basicAuth &&
    JSON.stringify(a.headers ?? {}) === JSON.stringify(b.headers ?? {})
  );
}

/**
 * Masks what may be a secret in a message from the kubeconfig loader (an exec plugin's stderr,
 * a YAML error quoting a line): JWTs, PEM blocks and long base64 runs. Paths stay readable.
 */
export function redactSecrets(message: string): string {
  return message
    .replace(/-----BEGIN [A-Z ]+-----[\s\S]*?(-----END [A-Z ]+-----|$)/g, '[redacted PEM]')
    .replace(/eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g, '[redacted token]')
    .replace(/(?<![\w/.-])[A-Za-z0-9+_-][A-Za-z0-9+/_-]{39,}={0,2}/g, '[redacted]');
}
