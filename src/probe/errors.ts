// A failure that ends a probe step, already classified with a reason code.
import type { ReasonCode } from './reasons.js';

export class ProbeError extends Error {
  constructor(
    readonly reason: ReasonCode,
    message: string,
    /** The check the failure belongs to, e.g. `connect`, `banner`, `handshake`. */
    readonly check: string,
  ) {
    super(message);
    this.name = 'ProbeError';
  }
}

/** Printable, bounded excerpt of what a peer sent: never dump megabytes or control bytes into a report. */
export function excerpt(text: string, max = 80): string {
  const clean = text.replace(/[^\x20-\x7e]/g, (c) => (c === '\r' ? '\\r' : c === '\n' ? '\\n' : '?'));
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

/** Map a socket-level error (connect, reset, DNS) to a reason code. */
export function classifySocketError(err: NodeJS.ErrnoException, check: string): ProbeError {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return new ProbeError('connection-refused', `${check}: ${code} (${err.message})`, check);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new ProbeError('dns-failure', `${check}: ${err.message}`, check);
  }
  if (code === 'ETIMEDOUT') return new ProbeError('timeout', `${check}: ${err.message}`, check);
  return new ProbeError('protocol-error', `${check}: ${err.message}`, check);
}
