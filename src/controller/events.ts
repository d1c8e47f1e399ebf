// Events on the SmtpRelay for condition transitions, through the shared
// EventRecorder (events.k8s.io/v1, aggregated). Best effort: never throws.
import os from 'node:os';
import type { KubeConfig } from '../kube/kube-config.js';
import type { SmtpRelay } from '../api/types.js';
import type { Logger } from '../common/logger.js';
import { createEventRecorder } from '../kube/events.js';
import type { KubeObject } from '../kube/types.js';

export type RecordEvent = (relay: SmtpRelay, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;

export function createRelayEventRecorder(kc: KubeConfig, logger: Logger): RecordEvent {
  const recorder = createEventRecorder({
    kc,
    reportingInstance: process.env.POD_NAME || os.hostname(),
    onError: (err, event) => logger.warn('could not record event', { reason: event.reason, regarding: event.regarding, error: err instanceof Error ? err.message : String(err) }),
  });
  return (relay, type, reason, message) => recorder.record({ regarding: relay as unknown as KubeObject, type, reason, note: message });
}
