// The queue's routes on the relay's metrics port (src/common/queue-summary.ts): GET /queue
// gives the summary; POST /drain stops accepting and delivers everything; DELETE /drain
// takes the drain back (the operator kept this replica after all).
import type http from 'node:http';
import { DRAIN_PATH, QUEUE_PATH, type QueueSummary } from '../../common/queue-summary.js';

export interface QueueControl {
  summary(): QueueSummary;
  drain(): void;
  resume(): void;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

export function queueRoutes(q: QueueControl): (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean {
  return (req, res, path) => {
    if (path === QUEUE_PATH) {
      if (req.method !== 'GET' && req.method !== 'HEAD') json(res, 405, { error: 'GET only' });
      else json(res, 200, q.summary());
      return true;
    }
    if (path === DRAIN_PATH) {
      if (req.method === 'POST') {
        q.drain();
        json(res, 202, q.summary());
      } else if (req.method === 'DELETE') {
        q.resume();
        json(res, 200, q.summary());
      } else json(res, 405, { error: 'POST (drain) or DELETE (take the drain back) only' });
      req.resume(); // any request body is ignored
      return true;
    }
    return false;
  };
}
