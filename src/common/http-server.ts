// One small HTTP server per process for /metrics, /healthz and /readyz.
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface HealthServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Liveness: the process is not wedged. */
  healthy?: () => boolean;
  /** Readiness: the process can do its job now. */
  ready: () => boolean;
  /** More routes (the relay's GET /queue, POST /drain): return true if the request was handled. */
  routes?: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean;
}

export async function startHealthServer(opts: HealthServerOptions): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      opts.registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        });
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' ? (opts.healthy?.() ?? true) : opts.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'ok\n' : 'not ready\n');
      return;
    }
    if (path && opts.routes?.(req, res, path)) return;
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return server;
}
