// A minimal HTTPS client for the harness itself (readiness, CRDs, tokens), so
// starting the control plane needs neither kubectl nor client-node.
import https from 'node:https';

export interface KubeHttpTarget {
  /** https://127.0.0.1:port */
  server: string;
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
}

export interface KubeHttpResponse {
  status: number;
  text: string;
}

export function kubeRequest(
  target: KubeHttpTarget,
  method: string,
  path: string,
  body?: unknown,
  contentType = 'application/json',
  timeoutMs = 10_000,
): Promise<KubeHttpResponse> {
  const url = new URL(path, target.server);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (payload !== undefined) {
    headers['Content-Type'] = contentType;
    headers['Content-Length'] = String(Buffer.byteLength(payload));
  }
  if (target.token) headers.Authorization = `Bearer ${target.token}`;
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method, headers, ca: target.ca, cert: target.cert, key: target.key, timeout: timeoutMs, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like kubeRequest, but throws unless the status is 2xx; returns the parsed JSON. */
export async function kubeJson<T = unknown>(
  target: KubeHttpTarget,
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
): Promise<T> {
  const res = await kubeRequest(target, method, path, body, contentType);
  if (res.status < 200 || res.status > 299) {
    throw new Error(`${method} ${path} answered ${res.status}: ${res.text.slice(0, 500)}`);
  }
  return (res.text ? JSON.parse(res.text) : undefined) as T;
}
