// The kubeconfig loader, run as its own short-lived process by credentials.ts:
//   node credentials-child.js --kubeconfig FILE | --in-cluster
// client-node stays the authority on kubeconfig and credentials (exec plugins, auth providers,
// the in-cluster token); this prints what it resolved as one JSON KubeConnection on stdout and
// exits, so client-node's import graph (~80 MiB) never stays in the operator's memory.
// A failure prints {"error": message} on stdout and exits 1. The parent discards stderr (an exec
// plugin's chatter) and redacts the message.
// Self-contained on purpose (type-only relative imports): tests run this .ts file with plain Node.
import fs from 'node:fs';
import path from 'node:path';
import type { KubeConnection } from './connection.js';

interface Loaded {
  /** A bearer token file the operator re-reads itself. */
  tokenFile?: string;
  renewable: boolean;
}

type ClientNode = typeof import('@kubernetes/client-node');
type KubeConfig = InstanceType<ClientNode['KubeConfig']>;

/** client-node reads a kubeconfig's token-file once; client-go's tokenFile it ignores. Both are files to re-read: find the current user's. */
async function tokenFileOf(file: string, userName: string | undefined): Promise<string | undefined> {
  const { parse } = await import('yaml');
  const doc = parse(fs.readFileSync(file, 'utf8')) as { users?: { name?: string; user?: Record<string, unknown> }[] } | null;
  const user = doc?.users?.find((u) => u.name === userName)?.user;
  const found = user?.tokenFile ?? user?.['token-file'];
  return typeof found === 'string' && found ? path.resolve(path.dirname(file), found) : undefined;
}

async function load(kc: KubeConfig, argv: string[]): Promise<Loaded> {
  if (argv[0] === '--in-cluster') {
    kc.loadFromCluster();
    const config = kc.getCurrentUser()?.authProvider?.config as { tokenFile?: string } | undefined;
    return { tokenFile: config?.tokenFile, renewable: false };
  }
  const file = argv[0] === '--kubeconfig' ? argv[1] : undefined;
  if (!file) throw new Error('usage: credentials-child --kubeconfig FILE | --in-cluster');
  try {
    kc.loadFromFile(file);
  } catch (err) {
    // A YAML error's reason and position, not its message: that quotes the file's lines.
    const e = err as { reason?: string; mark?: { line: number; column: number }; message?: string };
    const why = e.reason ? `${e.reason}${e.mark ? ` (line ${e.mark.line + 1}, column ${e.mark.column + 1})` : ''}` : String(e.message ?? err);
    throw new Error(`kubeconfig file ${file} is not valid: ${why}`);
  }
  if (!kc.getCurrentCluster()) throw new Error(`kubeconfig file ${file} has no current context with a cluster`);
  const user = kc.getCurrentUser();
  return { tokenFile: await tokenFileOf(file, user?.name), renewable: Boolean(user?.exec || user?.authProvider) };
}

/** The exec plugin's expirationTimestamp, from client-node's credential cache (not public API: without it, a 401 triggers the renewal). */
function execExpiry(kc: KubeConfig): string | undefined {
  const name = kc.getCurrentUser()?.name;
  const authenticators = (kc as unknown as { authenticators?: unknown[] }).authenticators ?? [];
  for (const a of authenticators) {
    const cached = (a as { tokenCache?: Record<string, { status?: { expirationTimestamp?: unknown } } | null> }).tokenCache?.[name ?? ''];
    const ts = cached?.status?.expirationTimestamp;
    if (typeof ts === 'string') return ts;
  }
  return undefined;
}

const pem = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

async function connection(argv: string[]): Promise<KubeConnection> {
  const { KubeConfig } = (await import('@kubernetes/client-node')) as ClientNode;
  const kc = new KubeConfig();
  const loaded = await load(kc, argv);
  const opts: { ca?: unknown; cert?: unknown; key?: unknown; servername?: string; rejectUnauthorized?: boolean; auth?: string; headers: Record<string, string> } = { headers: {} };
  // Runs exec plugins and auth providers, reads certificate files: everything client-node would send.
  await kc.applyToHTTPSOptions(opts as never);
  const { Authorization: authorization, ...headers } = opts.headers;
  const bearer = authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
  const conn: KubeConnection = { server: kc.getCurrentCluster()!.server, renewable: loaded.renewable };
  const set = <K extends keyof KubeConnection>(k: K, v: KubeConnection[K] | undefined): void => {
    if (v !== undefined) conn[k] = v;
  };
  set('ca', pem(opts.ca));
  set('cert', pem(opts.cert));
  set('key', pem(opts.key));
  set('tlsServerName', opts.servername);
  if (opts.rejectUnauthorized === false) conn.insecureSkipTLSVerify = true;
  // A token file is re-read by the operator itself: its current content is not sent along.
  if (loaded.tokenFile) conn.tokenFile = loaded.tokenFile;
  else set('token', bearer);
  set('basicAuth', opts.auth);
  if (Object.keys(headers).length > 0) conn.headers = headers;
  set('expiresAt', execExpiry(kc));
  return conn;
}

let exitCode = 0;
try {
  process.stdout.write(`${JSON.stringify(await connection(process.argv.slice(2)))}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: err instanceof Error ? err.message : String(err) })}\n`);
  exitCode = 1;
}
// Writes to a pipe are synchronous on Linux; exit now even if an auth provider left a timer behind.
process.exit(exitCode);
