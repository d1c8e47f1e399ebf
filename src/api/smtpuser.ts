// The SmtpUser API (smtprelay.dev/v1alpha1): SMTP credentials as a resource. A team applies
// one SmtpUser in its namespace; the operator issues a password, puts only its bcrypt hash in
// the relay's managed users Secret, and writes a connection Secret beside the SmtpUser.
// ./schema-smtpuser.ts is the schema (single source of the CRD); these types mirror it.
import type { Condition } from './types.js';

export const USER_KIND = 'SmtpUser';
export const USER_PLURAL = 'smtpusers';
export const USER_SINGULAR = 'smtpuser';
export const USER_SHORT_NAMES = ['smtpu'];

/** One-shot rotation: a new value of this annotation issues a new password (the old one keeps its grace period). */
export const ROTATE_ANNOTATION = 'smtprelay.dev/rotate';
/** Removes the user from the relay's store before the SmtpUser goes away. */
export const USER_FINALIZER = 'smtprelay.dev/smtpuser';

export const USER_DEFAULTS = { gracePeriod: '1h' } as const;

export interface SmtpUserSpec {
  relayRef: { name: string; namespace: string };
  /** Addresses (billing@example.com) or whole domains (@invoices.example.com). */
  senders: string[];
  connectionSecretRef: { name: string };
  rotation?: {
    /** Go duration: a new password this long after the last one. Unset: only on demand (annotation). */
    period?: string;
    /** Go duration the previous password keeps working after a rotation. Default 1h. */
    gracePeriod?: string;
  };
}

export interface SmtpUserStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  /** The SMTP user name the relay knows: <namespace>.<name>. */
  username?: string;
  /** The relay's hostname and client ports (what the connection Secret says). */
  relay?: { hostname: string; submissionPort?: number; submissionsPort?: number };
  /** When the current password was issued (RFC 3339). */
  passwordIssueTime?: string;
  /** Next scheduled rotation (spec.rotation.period), RFC 3339. */
  nextRotationTime?: string;
}

export interface SmtpUser {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec: SmtpUserSpec;
  status?: SmtpUserStatus;
}

/** Stable reasons of the Ready condition. */
export const USER_REASONS = {
  Issued: 'Issued',
  RelayNotFound: 'RelayNotFound',
  NamespaceNotAllowed: 'NamespaceNotAllowed',
  SendersNotAllowed: 'SendersNotAllowed',
  ConnectionSecretConflict: 'ConnectionSecretConflict',
  UserNameConflict: 'UserNameConflict',
} as const;
export type UserReason = (typeof USER_REASONS)[keyof typeof USER_REASONS];
