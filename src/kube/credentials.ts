// The operator's Kubernetes credentials without client-node in its process: the kubeconfig
// loader (credentials-child.ts) runs as a short-lived child process and prints a plain
// KubeConnection; this holds it, hands it to each request, and renews it:
// - a token file (in-cluster projected token, kubeconfig tokenFile) is re-read here every
//   minute and after a 401, as client-go does;
// - credentials that expire (exec plugin expirationTimestamp, a JWT's exp) are renewed by
//   running the loader again before they do;
// - a 401 runs the loader again once, then backs off while that gives nothing new.
// Never logs or throws a token or key.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectionExpiry, parseChildOutput, sameCredentials, type KubeConnection } from './connection.js';
import type { KubeConfig } from './kube-config.js';
import { afterAttempt, beforeRequest, OPEN_GATE, renewAt, TOKEN_FILE_REREAD_MS, type RetryGate } from './refresh-policy.js';

/** Where the kubeconfig comes from (client.ts kubeConfigSource picks it). */
export type KubeConfigSource = { kind: 'file'; path: string } | { kind: 'in-cluster' };

const CHILD_TIMEOUT_MS = 60_000;

/** The loader next to this module: credentials-child.js in dist/, the .ts file when tests run the sources. */
function childEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `credentials-child${path.extname(here)}`);
}

function childArgs(source: KubeConfigSource): string[] {
  return [childEntry(), ...(source.kind === 'in-cluster' ? ['--in-cluster'] : ['--kubeconfig', source.path])];
}

const CHILD_MAX_OUTPUT = 4 * 1024 * 1024;

/** Runs the loader and waits for it (startup: nothing else runs yet). */
export function loadConnectionSync(source: KubeConfigSource): KubeConnection {
  let stdout: string;
  try {
    // stderr is ignored: whatever an exec plugin says there never reaches our logs.
    stdout = execFileSync(process.execPath, childArgs(source), { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, maxBuffer: CHILD_MAX_OUTPUT, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (err) {
    stdout = String((err as { stdout?: unknown }).stdout ?? '');
    if (!stdout) throw new Error(`the kubeconfig loader failed: ${(err as Error).message.split('\n')[0]}`);
  }
  return parseChildOutput(stdout);
}

/** Runs the loader without blocking the event loop (renewals). */
export function loadConnection(source: KubeConfigSource): Promise<KubeConnection> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, childArgs(source), { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, maxBuffer: CHILD_MAX_OUTPUT }, (err, stdout) => {
      try {
        if (err && !stdout) throw new Error(`the kubeconfig loader failed: ${err.message.split('\n')[0]}`);
        resolve(parseChildOutput(stdout));
      } catch (e) {
        reject(e as Error);
      }
    }).stderr?.resume(); // drained, never read
  });
}

function readToken(file: string): string {
  const token = fs.readFileSync(file, 'utf8').trim();
  if (!token) throw new Error(`token file ${file} is empty`);
  return token;
}

export interface KubeCredentialsOptions {
  /** Loads the connection again (the child process); tests pass their own. */
  reload: () => Promise<KubeConnection>;
  /** Told why a renewal or a token file read failed (no secrets in the message); the old credentials stay in use. */
  onError?: (message: string) => void;
  now?: () => number;
}

export class KubeCredentials implements KubeConfig {
  #conn: KubeConnection;
  #token: string | undefined;
  #tokenReadAt = 0;
  #expiresAt: number | undefined;
  #renewAt: number | undefined;
  #gate: RetryGate = OPEN_GATE;
  #renewing: Promise<boolean> | undefined;
  #lastError: string | undefined;
  readonly #reload: () => Promise<KubeConnection>;
  readonly #onError: (message: string) => void;
  readonly #now: () => number;

  constructor(initial: KubeConnection, opts: KubeCredentialsOptions) {
    this.#reload = opts.reload;
    this.#onError = opts.onError ?? (() => undefined);
    this.#now = opts.now ?? Date.now;
    this.#conn = initial;
    this.#adopt(initial);
  }

  /** Why the last renewal failed, if it did (no secrets: the loader's message is redacted). */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  getCurrentCluster(): { readonly server: string } {
    return { server: this.#conn.server };
  }

  async applyToHTTPSOptions(opts: https.RequestOptions): Promise<void> {
    const step = beforeRequest(this.#now(), this.#renewAt, this.#expiresAt, this.#gate);
    if (step === 'renew-and-wait') await this.#renew();
    else if (step === 'renew-in-background') void this.#renew();
    if (this.#conn.tokenFile && this.#now() - this.#tokenReadAt >= TOKEN_FILE_REREAD_MS) this.#rereadTokenFile();

    const c = this.#conn;
    if (c.ca !== undefined) opts.ca = c.ca;
    if (c.cert !== undefined) opts.cert = c.cert;
    if (c.key !== undefined) opts.key = c.key;
    if (c.tlsServerName !== undefined) opts.servername = c.tlsServerName;
    if (c.insecureSkipTLSVerify) opts.rejectUnauthorized = false;
    if (c.basicAuth !== undefined) opts.auth = c.basicAuth;
    const headers = (opts.headers ??= {}) as Record<string, string>;
    Object.assign(headers, c.headers);
    const token = c.tokenFile ? this.#token : c.token;
    if (token) headers.Authorization = `Bearer ${token}`;
  }

  async refreshAfterUnauthorized(): Promise<boolean> {
    if (this.#conn.tokenFile) return this.#rereadTokenFile();
    if (this.#renewing) return this.#renewing;
    if (this.#now() < this.#gate.notBefore) return false;
    return this.#renew();
  }

  /** Takes a new connection in: its token file read now, its renewal time from its expiry. */
  #adopt(conn: KubeConnection): void {
    if (conn.tokenFile) {
      this.#token = readToken(conn.tokenFile);
      this.#tokenReadAt = this.#now();
    }
    this.#conn = conn;
    this.#expiresAt = conn.renewable ? connectionExpiry(conn) : undefined;
    this.#renewAt = this.#expiresAt === undefined ? undefined : renewAt(this.#now(), this.#expiresAt);
  }

  /** Re-reads the token file; true when the token changed. A file that cannot be read keeps the last token (client-go does the same). */
  #rereadTokenFile(): boolean {
    const file = this.#conn.tokenFile!;
    this.#tokenReadAt = this.#now();
    try {
      const token = readToken(file);
      const changed = token !== this.#token;
      this.#token = token;
      this.#lastError = undefined;
      return changed;
    } catch (err) {
      this.#failed(`cannot read token file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return false;
    }
  }

  #failed(message: string): void {
    this.#lastError = message;
    this.#onError(message);
  }

  /** Runs the loader again (one at a time); true when it gave different credentials. */
  #renew(): Promise<boolean> {
    this.#renewing ??= (async () => {
      let changed = false;
      try {
        const next = await this.#reload();
        changed = !sameCredentials(this.#conn, next);
        this.#adopt(next);
        this.#lastError = undefined;
      } catch (err) {
        this.#failed(`cannot renew the credentials: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.#gate = afterAttempt(this.#gate, this.#now(), changed);
      // Renewal due but nothing new (or a failure): the gate says when to try again.
      if (!changed && this.#renewAt !== undefined) this.#renewAt = Math.max(this.#renewAt, this.#gate.notBefore);
      return changed;
    })().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }
}
