// Ory Hydra v2.3.0 (built from its Go module by scripts/controlplane-build.mjs into
// .cache/bin/hydra) as the real OAuth2 authorization server of the OAuth2 tests:
// in-memory storage, loopback ports, plain http (--dev). Token endpoint, admin API
// (clients, jwt-bearer trust, introspection for Dovecot). A restart keeps the ports and
// replays what the test provisioned (memory storage forgets it).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getFreePort } from '../../harness/controlplane.js';
import { ManagedProcess } from '../../harness/process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const HYDRA_BIN = path.join(repoRoot, '.cache', 'bin', 'hydra');

export interface HydraClient {
  client_id: string;
  client_secret?: string;
  grant_types: string[];
  scope: string;
  token_endpoint_auth_method: 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt';
  jwks?: { keys: object[] };
  token_endpoint_auth_signing_alg?: string;
}

export interface JwtBearerTrust {
  issuer: string;
  subject: string;
  scope: string[];
  jwk: object;
}

export interface Hydra {
  publicUrl: string;
  adminUrl: string;
  tokenEndpoint: string;
  introspectionUrl: string;
  createClient(client: HydraClient): Promise<void>;
  deleteClient(clientId: string): Promise<void>;
  /** Revokes every token of a client (admin API), e.g. to make a cached token dead. */
  deleteTokensOf(clientId: string): Promise<void>;
  trustJwtBearerIssuer(trust: JwtBearerTrust): Promise<void>;
  /** Requests to the token endpoint that Hydra logged (its own count, not ours). */
  tokenEndpointCalls(): number;
  stop(): Promise<void>;
  /** Starts again on the same ports and replays the clients and trusts created so far. */
  restart(): Promise<void>;
  log(): string;
}

export interface HydraOptions {
  /** Access token lifetime, Hydra duration syntax (e.g. '8s', '1h'). */
  accessTokenTtl: string;
}

async function call(method: string, url: string, body?: object): Promise<void> {
  const res = await fetch(url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
  if (!res.ok) throw new Error(`hydra admin ${method} ${url}: ${res.status} ${await res.text()}`);
}

export async function startHydra(root: string, opts: HydraOptions): Promise<Hydra> {
  if (!fs.existsSync(HYDRA_BIN)) throw new Error(`${HYDRA_BIN} is missing: run \`node scripts/controlplane-build.mjs hydra\``);
  fs.mkdirSync(root, { recursive: true });
  const [publicPort, adminPort] = [await getFreePort(), await getFreePort()];
  const publicUrl = `http://127.0.0.1:${publicPort}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const logPath = path.join(root, 'hydra.log');
  const replay: Array<() => Promise<void>> = [];
  let proc: ManagedProcess | undefined;
  let logOffset = 0; // the token calls of earlier runs stay counted
  const log = () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '');

  const start = async () => {
    logOffset = log().length;
    proc = ManagedProcess.start({
      name: 'hydra',
      command: HYDRA_BIN,
      args: ['serve', 'all', '--dev', '--sqa-opt-out'],
      logPath,
      env: {
        PATH: process.env.PATH,
        HOME: root,
        DSN: 'memory',
        SECRETS_SYSTEM: 'smtp-relay-oauth2-tests-system-secret',
        URLS_SELF_ISSUER: `${publicUrl}/`,
        SERVE_PUBLIC_HOST: '127.0.0.1',
        SERVE_PUBLIC_PORT: String(publicPort),
        SERVE_ADMIN_HOST: '127.0.0.1',
        SERVE_ADMIN_PORT: String(adminPort),
        TTL_ACCESS_TOKEN: opts.accessTokenTtl,
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
        LOG_LEAK_SENSITIVE_VALUES: 'false',
      },
    });
    const until = Date.now() + 30_000;
    for (;;) {
      const ready = await fetch(`${adminUrl}/health/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (proc.hasExited || Date.now() > until) throw new Error(`hydra did not get ready\n${proc.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const step of replay) await step();
  };
  await start();

  const provision = async (step: () => Promise<void>) => {
    await step();
    replay.push(step);
  };
  let earlierCalls = 0;
  const countCalls = (text: string) => text.split('\n').filter((l) => l.includes('"completed handling request"') && l.includes('/oauth2/token')).length;
  const stopCounted = async () => {
    if (!proc || proc.hasExited) return;
    await proc.stop(5_000);
    const text = log();
    earlierCalls += countCalls(text.slice(logOffset));
    logOffset = text.length;
  };

  return {
    publicUrl,
    adminUrl,
    tokenEndpoint: `${publicUrl}/oauth2/token`,
    introspectionUrl: `${adminUrl}/admin/oauth2/introspect`,
    createClient: (client) => provision(() => call('POST', `${adminUrl}/admin/clients`, client)),
    deleteClient: async (clientId) => {
      await call('DELETE', `${adminUrl}/admin/clients/${encodeURIComponent(clientId)}`);
      replay.push(() => call('DELETE', `${adminUrl}/admin/clients/${encodeURIComponent(clientId)}`));
    },
    deleteTokensOf: (clientId) => call('DELETE', `${adminUrl}/admin/oauth2/tokens?client_id=${encodeURIComponent(clientId)}`),
    trustJwtBearerIssuer: (trust) =>
      provision(() => call('POST', `${adminUrl}/admin/trust/grants/jwt-bearer/issuers`, { ...trust, expires_at: new Date(Date.now() + 86_400_000).toISOString() })),
    tokenEndpointCalls: () => earlierCalls + countCalls(log().slice(logOffset)),
    stop: () => stopCounted(),
    restart: async () => {
      await stopCounted();
      await start();
    },
    log,
  };
}
