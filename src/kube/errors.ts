// One error type for every API server failure, so callers branch on `code`
// and `reason` rather than on client-library internals.

/** HTTP status, or 'connection' when no response came (refused, reset, timeout, TLS). */
export type KubeErrorCode = number | 'connection';

export class KubeError extends Error {
  override readonly name = 'KubeError';
  constructor(
    readonly code: KubeErrorCode,
    /** The Status reason (NotFound, Conflict, Forbidden, Invalid, AlreadyExists, Gone, ...) or 'Connection'. */
    readonly reason: string,
    message: string,
    /** Status.details when the server sent one (causes of a 422, the kind that was not found, ...). */
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export const isKubeError = (err: unknown): err is KubeError => err instanceof KubeError;
export const isNotFound = (err: unknown): boolean => isKubeError(err) && err.code === 404;
export const isConflict = (err: unknown): boolean => isKubeError(err) && err.code === 409;
export const isForbidden = (err: unknown): boolean => isKubeError(err) && err.code === 403;
export const isInvalid = (err: unknown): boolean => isKubeError(err) && err.code === 422;
export const isGone = (err: unknown): boolean => isKubeError(err) && err.code === 410;
/** A 404 because the kind itself is not served (its CRD is not installed), not because one object is missing. */
export const isResourceNotServed = (err: unknown): boolean =>
  isNotFound(err) && (err as KubeError).details !== undefined && (err as { details: { notServed?: boolean } }).details.notServed === true;
export const isConnectionError = (err: unknown): boolean => isKubeError(err) && err.code === 'connection';

const REASON_BY_CODE: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Gone',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** Build a KubeError from a response status and body (a metav1.Status when the API server sent one). Pure. */
export function kubeErrorFromResponse(status: number, body: string, what: string): KubeError {
  let parsed: { kind?: string; reason?: string; message?: string; details?: unknown } | undefined;
  try {
    const json = JSON.parse(body) as unknown;
    if (json && typeof json === 'object') parsed = json as typeof parsed;
  } catch {
    // not JSON (proxies, 'page not found' text)
  }
  const reason = parsed?.reason || REASON_BY_CODE[status] || `Http${status}`;
  const message = parsed?.message || body.trim().slice(0, 300) || `HTTP ${status}`;
  return new KubeError(status, reason, `${what}: ${message}`, parsed?.details);
}

export function connectionError(err: unknown, what: string): KubeError {
  const msg = err instanceof Error ? err.message : String(err);
  return new KubeError('connection', 'Connection', `${what}: ${msg}`);
}
