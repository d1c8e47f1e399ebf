// Kubernetes Events (events.k8s.io/v1) about our objects, aggregated on the
// client: the same (object, type, reason, note) within the window updates
// series.count of the Event already written instead of creating another.
// Writing events is best effort: failures are reported to onError, never thrown.
import type { KubeConfig } from './kube-config.js';
import { randomBytes } from 'node:crypto';
import { isNotFound } from './errors.js';
import { kubeRequest } from './http.js';
import { microTime } from './leader.js';
import type { KubeObject } from './types.js';

export const REPORTING_CONTROLLER = 'smtprelay.dev/operator';
const NOTE_MAX = 1024;

export type EventType = 'Normal' | 'Warning';

export interface EventRegarding {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

export interface EventInput {
  regarding: KubeObject | EventRegarding;
  type: EventType;
  /** CamelCase, stable: SecretNotFound, CertificateIssued, ... */
  reason: string;
  /** A sentence for people. Never put secret values in it. */
  note: string;
  /** What was done: Reconcile, Apply, Probe, ... Default 'Reconcile'. */
  action?: string;
  related?: EventRegarding;
}

export interface EventRecorderOptions {
  kc: KubeConfig;
  /** Pod name (or host) of this replica. */
  reportingInstance: string;
  reportingController?: string;
  /** Same event within this window is aggregated. Default 10 minutes. */
  aggregationWindowMs?: number;
  /** Errors writing events (logged by the caller, never thrown). */
  onError?: (err: unknown, event: { reason: string; regarding: string }) => void;
  /** How many distinct events to remember for aggregation. Default 4096. */
  maxTracked?: number;
}

export interface EventRecorder {
  /** Record an event. Resolves when written (or failed); never rejects. */
  record(input: EventInput): Promise<void>;
  /** Shorthands. */
  normal(regarding: EventInput['regarding'], reason: string, note: string, action?: string): Promise<void>;
  warning(regarding: EventInput['regarding'], reason: string, note: string, action?: string): Promise<void>;
}

interface Tracked {
  name: string;
  namespace: string;
  count: number;
  firstAt: number;
}

/** Reference fields of an object or a reference. Pure. */
export function toRegarding(r: KubeObject | EventRegarding): EventRegarding {
  if ('metadata' in r && r.metadata && typeof r.metadata === 'object') {
    const o = r as KubeObject;
    return { apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion };
  }
  return r as EventRegarding;
}

/** Keep notes short and free of key material even if a caller slips. Pure. */
export function sanitizeNote(note: string): string {
  const scrubbed = note.replace(/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g, '[redacted private key]');
  return scrubbed.length > NOTE_MAX ? `${scrubbed.slice(0, NOTE_MAX - 3)}...` : scrubbed;
}

export function createEventRecorder(opts: EventRecorderOptions): EventRecorder {
  const controller = opts.reportingController ?? REPORTING_CONTROLLER;
  const windowMs = opts.aggregationWindowMs ?? 10 * 60_000;
  const maxTracked = opts.maxTracked ?? 4096;
  const tracked = new Map<string, Tracked>();
  // One write at a time per aggregation key, so a burst makes one Event.
  const chains = new Map<string, Promise<void>>();

  async function write(key: string, input: EventInput, regarding: EventRegarding, note: string): Promise<void> {
    const now = Date.now();
    const action = input.action ?? 'Reconcile';
    const prev = tracked.get(key);
    if (prev && now - prev.firstAt < windowMs) {
      try {
        await kubeRequest(opts.kc, {
          method: 'PATCH',
          path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(prev.namespace)}/events/${encodeURIComponent(prev.name)}`,
          contentType: 'application/merge-patch+json',
          body: { series: { count: prev.count + 1, lastObservedTime: microTime(new Date(now)) } },
        });
        prev.count++;
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        // The Event expired (TTL) or was deleted: start a new one.
      }
    }
    const namespace = regarding.namespace || 'default';
    const name = `${regarding.name}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
    await kubeRequest(opts.kc, {
      method: 'POST',
      path: `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: microTime(new Date(now)),
        reportingController: controller,
        reportingInstance: opts.reportingInstance,
        action,
        reason: input.reason,
        note,
        type: input.type,
        regarding,
        ...(input.related ? { related: input.related } : {}),
      },
    });
    tracked.delete(key);
    tracked.set(key, { name, namespace, count: 1, firstAt: now });
    while (tracked.size > maxTracked) tracked.delete(tracked.keys().next().value!);
  }

  function record(input: EventInput): Promise<void> {
    let regarding: EventRegarding;
    let note: string;
    let key: string;
    try {
      regarding = toRegarding(input.regarding);
      if (!regarding.name || !regarding.kind) throw new Error('event regarding needs kind and name');
      if (input.type !== 'Normal' && input.type !== 'Warning') throw new Error(`event type must be Normal or Warning, got '${String(input.type)}'`);
      if (!/^[A-Z][A-Za-z0-9]*$/.test(input.reason)) throw new Error(`event reason must be CamelCase, got '${input.reason}'`);
      note = sanitizeNote(input.note);
      key = JSON.stringify([regarding.uid ?? '', regarding.namespace ?? '', regarding.kind, regarding.name, input.type, input.reason, note, input.action ?? '']);
    } catch (err) {
      opts.onError?.(err, { reason: String(input?.reason), regarding: '?' });
      return Promise.resolve();
    }
    const previous = chains.get(key) ?? Promise.resolve();
    const next = previous
      .then(() => write(key, input, regarding, note))
      .catch((err: unknown) => {
        try {
          opts.onError?.(err, { reason: input.reason, regarding: `${regarding.kind} ${regarding.namespace ?? ''}/${regarding.name}` });
        } catch {
          // never throw from here
        }
      })
      .finally(() => {
        if (chains.get(key) === next) chains.delete(key);
      });
    chains.set(key, next);
    return next;
  }

  return {
    record,
    normal: (regarding, reason, note, action) => record({ regarding, type: 'Normal', reason, note, action }),
    warning: (regarding, reason, note, action) => record({ regarding, type: 'Warning', reason, note, action }),
  };
}
