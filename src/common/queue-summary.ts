// The relay's queue as the operator reads it: GET /queue on the relay's metrics port.
// POST /drain on the same port makes the relay stop accepting (readiness false, 421 to new
// sessions) and deliver what it holds; GET /queue then shows draining: true until empty.
// Shared by the relay (writer) and the operator (reader); no Kubernetes here.

export const QUEUE_PATH = '/queue';
export const DRAIN_PATH = '/drain';

export interface QueueSummary {
  mode: 'durable' | 'pass-through';
  /** False once draining (or shutting down): new sessions get 421. */
  accepting: boolean;
  draining: boolean;
  /** Messages held (each counted once, whatever its recipient count). */
  depth: number;
  /** Messages whose last attempt was deferred (4xx, connection error, timeout). */
  deferred: number;
  /** Age of the oldest message held, seconds; 0 when empty. */
  oldestAgeSeconds: number;
  /** Bytes of queue files on disk. */
  bytes: number;
  /**
   * Every upstream's health (pass-through and durable): the operator's UpstreamsHealthy
   * condition reads it. Never a credential or token.
   */
  upstreams?: UpstreamHealth[];
  /** The upstream's last failure, if the last attempt failed: never a credential. */
  lastError?: { upstream: string; code?: number; message: string; at: string; temporary: boolean };
}

export interface UpstreamHealth {
  /** The upstream's name (relay.json upstreams[].name; 'default' for the single `upstream`). */
  name: string;
  /** Its circuit breaker: closed (in use), open (skipped while another upstream of the route can take mail), half-open (one trial goes through). */
  state: 'closed' | 'open' | 'half-open';
  /** Its last failure since its last success; absent once a transaction succeeded. */
  lastError?: {
    /** The upstream's SMTP reply code, when it answered (a 4xx); absent for connection errors and timeouts. */
    code?: number;
    /** The upstream's reply line or the relay's own text: never a credential. */
    message: string;
    /** ISO time. */
    at: string;
    reason: 'UpstreamAuthFailed' | 'UpstreamUnreachable' | 'UpstreamTimeout' | 'UpstreamDeferred';
    /** With UpstreamAuthFailed and OAuth2: the token endpoint's error code (invalid_client, unauthorized_client, ...). */
    oauthError?: string;
  };
}
