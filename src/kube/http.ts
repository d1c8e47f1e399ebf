// Raw requests to the API server over node:https, authenticated by the
// KubeConfig (client certs, bearer tokens, in-cluster token files, exec
// plugins: kc.applyToHTTPSOptions does all of them). A 401 asks the KubeConfig
// for new credentials and retries once when it got some.
//
// Why not the generated client-node API classes: they cannot set the Accept
// header needed for PartialObjectMetadata, their Watch cannot either, and the
// dynamic KubernetesObjectApi hides status codes behind ApiException. One
// small request function gives every module the same errors (KubeError).
import http from 'node:http';
import https from 'node:https';
import { connectionError, isKubeError, kubeErrorFromResponse } from './errors.js';
import type { KubeConfig } from './kube-config.js';

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Absolute API path, e.g. /api/v1/namespaces/default/secrets. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON unless it is already a string. */
  body?: unknown;
  contentType?: string;
  accept?: string;
  /** Abort the request (not a watch's stream) after this long. Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Transport {
  agent: http.Agent;
  mod: typeof http | typeof https;
  /** The TLS material the agent was made with: renewed credentials with new material get a new agent. */
  tls: TlsMaterial;
}

type TlsMaterial = Pick<https.AgentOptions, 'ca' | 'cert' | 'key' | 'servername' | 'rejectUnauthorized'>;

const TLS_FIELDS = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'] as const;

function sameTlsMaterial(a: TlsMaterial, b: TlsMaterial): boolean {
  return TLS_FIELDS.every((f) => {
    const x = a[f];
    const y = b[f];
    if (x === y) return true;
    // client-node's KubeConfig reads certificate files into new Buffers for every request.
    return Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y);
  });
}

const transports = new WeakMap<KubeConfig, Transport>();

/** The request options for one request, and a keep-alive agent shared by all requests of this KubeConfig. */
async function prepare(kc: KubeConfig, req: KubeRequest): Promise<{ url: URL; options: https.RequestOptions; mod: Transport['mod'] }> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/+$/, '') + req.path);
  for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));

  const opts: https.RequestOptions = { headers: {} };
  await kc.applyToHTTPSOptions(opts);
  const tls: TlsMaterial = {
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
    servername: opts.servername,
    ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
  };
  let transport = transports.get(kc);
  if (!transport || !sameTlsMaterial(transport.tls, tls)) {
    // Sockets of a replaced agent carry the old client certificate: close them (open watches reconnect).
    transport?.agent.destroy();
    const isHttps = url.protocol === 'https:';
    transport = isHttps ? { agent: new https.Agent({ keepAlive: true, ...tls }), mod: https, tls } : { agent: new http.Agent({ keepAlive: true }), mod: http, tls };
    transports.set(kc, transport);
  }
  const headers: Record<string, string> = { ...(opts.headers as Record<string, string>), Accept: req.accept ?? 'application/json', 'User-Agent': 'smtp-relay-operator' };
  if (req.body !== undefined) headers['Content-Type'] = req.contentType ?? 'application/json';
  return {
    url,
    mod: transport.mod,
    options: { method: req.method, headers, agent: transport.agent, ...(opts.auth ? { auth: opts.auth } : {}) },
  };
}

function describe(req: KubeRequest): string {
  return `${req.method} ${req.path}`;
}

const isUnauthorized = (err: unknown): boolean => isKubeError(err) && err.code === 401;

/** One request; resolves with the parsed JSON body (or undefined when empty), rejects with a KubeError. */
export async function kubeRequest<T = unknown>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  try {
    return await requestOnce<T>(kc, req);
  } catch (err) {
    // Expired or revoked credentials: retry once if the KubeConfig found new ones.
    if (isUnauthorized(err) && kc.refreshAfterUnauthorized && (await kc.refreshAfterUnauthorized())) return requestOnce<T>(kc, req);
    throw err;
  }
}

async function requestOnce<T>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  const what = describe(req);
  const { url, options, mod } = await prepare(kc, req);
  const payload = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : JSON.stringify(req.body);
  // An explicit length: a chunked DELETE body leaves the API server's keep-alive
  // connection unusable (the next request on it gets a bare 400).
  if (payload !== undefined) (options.headers as Record<string, string>)['Content-Length'] = String(Buffer.byteLength(payload));
  return new Promise<T>((resolve, reject) => {
    const r = mod.request(url, { ...options, timeout: req.timeoutMs ?? 30_000, signal: req.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (err) => reject(connectionError(err, what)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) return reject(kubeErrorFromResponse(status, text, what));
        if (text.length === 0) return resolve(undefined as T);
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(kubeErrorFromResponse(status, text, `${what}: response is not JSON`));
        }
      });
    });
    r.on('timeout', () => r.destroy(new Error(`no answer within ${req.timeoutMs ?? 30_000} ms`)));
    r.on('error', (err) => reject(connectionError(err, what)));
    r.end(payload);
  });
}

export interface KubeStream {
  /** Resolves when the stream ends (server closed it, or abort()); rejects with a KubeError on failure. */
  readonly ended: Promise<void>;
  abort(): void;
}

/**
 * A streaming GET (watch): calls onLine for each newline-delimited JSON line.
 * Rejects `ended` with a KubeError for a non-2xx status or a broken connection.
 * idleTimeoutMs aborts a stream that sends nothing (not even bookmarks) for that long.
 */
export async function kubeStreamLines(kc: KubeConfig, req: KubeRequest & { idleTimeoutMs?: number }, onLine: (line: string) => void): Promise<KubeStream> {
  const what = describe(req);
  const { url, options, mod } = await prepare(kc, req);
  let request: http.ClientRequest | undefined;
  let aborted = false;
  const ended = new Promise<void>((resolve, rejectRaw) => {
    // After abort() the stream just ends: the caller asked for it.
    const reject = (err: unknown): void => (aborted ? resolve() : rejectRaw(err));
    request = mod.request(url, { ...options, timeout: req.idleTimeoutMs ?? 30_000 }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const err = kubeErrorFromResponse(status, Buffer.concat(chunks).toString('utf8'), what);
          // The caller (an informer) retries the watch; let it retry with renewed credentials.
          if (status === 401 && kc.refreshAfterUnauthorized) void kc.refreshAfterUnauthorized().catch(() => false).finally(() => reject(err));
          else reject(err);
        });
        res.on('error', (err) => reject(connectionError(err, what)));
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (line) onLine(line);
        }
      });
      res.on('end', () => resolve());
      res.on('aborted', () => reject(connectionError(new Error('stream aborted'), what)));
      res.on('error', (err) => reject(connectionError(err, what)));
    });
    // 'timeout' is socket inactivity: a silent stream is treated as broken.
    request.on('timeout', () => request?.destroy(new Error(`stream idle for ${req.idleTimeoutMs ?? 30_000} ms`)));
    request.on('error', (err) => reject(connectionError(err, what)));
    request.end();
  });
  return {
    ended,
    abort: () => {
      aborted = true;
      request?.destroy();
    },
  };
}

/** API path of a resource collection (or one object when name is set). Pure. */
export function resourcePath(apiVersion: string, plural: string, namespace?: string, name?: string, subresource?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  let p = namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${base}/${plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}
