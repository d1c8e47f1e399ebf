// Reconciles one SmtpUser: refuses clearly (status reasons), issues and rotates its password,
// keeps the relay's managed users Secret (<relay>-smtpusers: bcrypt hashes and senders only)
// and the connection Secret in the user's namespace in step, and on deletion removes the user
// from the store before letting the object go (finalizer). Level-based: everything it needs
// to decide is in the caches, the two Secrets it owns and the clock.
import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { KubeConfig } from '../../kube/kube-config.js';
import { API_VERSION, type SmtpRelay } from '../../api/types.js';
import { USER_FINALIZER, USER_KIND, USER_PLURAL, USER_REASONS, type SmtpUser, type SmtpUserStatus } from '../../api/smtpuser.js';
import type { Logger } from '../../common/logger.js';
import { isConflict, isNotFound } from '../../kube/errors.js';
import { kubeRequest, resourcePath } from '../../kube/http.js';
import type { Informer, KubeObject, ReconcileResult } from '../../kube/types.js';
import { splitKey } from '../../kube/informer.js';
import { setCondition } from '../conditions.js';
import { LABEL_MANAGED_BY, MANAGED_BY, names } from '../builders/labels.js';
import { parseDuration } from '../builders/spec.js';
import { connectionData, issueReason, nextWake, parseEntry, refusal, relayEndpoint, tidied, userName, withNewHash, type StoreEntry } from './pure.js';

/** bcrypt cost of issued passwords: 32 random bytes (256 bits) need no key stretching to resist guessing; 10 keeps AUTH cheap. */
export const ISSUED_BCRYPT_COST = 10;
/** The connection Secret records which password it holds (the issue time of its hash). */
export const ISSUED_AT_ANNOTATION = 'smtprelay.dev/password-issued-at';
/** Labels the connection Secret with its SmtpUser's uid: a Secret without it is not ours. */
export const OWNER_UID_LABEL = 'smtprelay.dev/smtpuser-uid';

interface SecretObj {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  data?: Record<string, string>;
}

export interface UserControllerDeps {
  kc: KubeConfig;
  users: Informer<KubeObject>;
  relays: Informer<KubeObject>;
  /** Namespaces (metadata only); undefined in a namespaced install (then no label but kubernetes.io/metadata.name is known). */
  namespaces?: Informer<KubeObject>;
  logger: Logger;
  recordEvent: (obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>;
  now?: () => Date;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

export class SmtpUserController {
  constructor(private readonly d: UserControllerDeps) {}

  private now(): Date {
    return this.d.now ? this.d.now() : new Date();
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const { namespace = '', name } = splitKey(key);
    const user = this.d.users.get(namespace, name) as unknown as SmtpUser | undefined;
    if (!user) return;
    const relayRef = user.spec.relayRef;
    const relay = this.d.relays.get(relayRef.namespace, relayRef.name) as unknown as SmtpRelay | undefined;
    const username = userName(user);

    if (user.metadata.deletionTimestamp) {
      if (relay) await this.setEntry(relay, username, null);
      await this.removeFinalizer(user);
      this.d.logger.info('SmtpUser revoked', { namespace, name, username });
      return;
    }
    if (!user.metadata.finalizers?.includes(USER_FINALIZER)) await this.addFinalizer(user);

    const nsObj = this.d.namespaces?.get(undefined, namespace);
    const nsLabels = nsObj?.metadata.labels ?? { 'kubernetes.io/metadata.name': namespace };
    const refused = refusal(user, relay, nsLabels);
    if (refused) {
      // Level-based: a user that may no longer attach leaves the store.
      if (relay) await this.setEntry(relay, username, null);
      await this.writeStatus(user, { username }, { status: 'False', reason: refused.reason, message: refused.message });
      return;
    }
    const r = relay as SmtpRelay;
    const now = this.now();
    const store = await this.getSecret(r.metadata.namespace, names.managedUsers(r));
    let entry = parseEntry(unb64(store?.data?.[username]));
    const conn = await this.getSecret(namespace, user.spec.connectionSecretRef.name);
    if (conn && conn.metadata.labels?.[OWNER_UID_LABEL] !== user.metadata.uid) {
      await this.writeStatus(user, { username }, {
        status: 'False',
        reason: USER_REASONS.ConnectionSecretConflict,
        message: `Secret ${namespace}/${user.spec.connectionSecretRef.name} exists and was not made by the operator for this SmtpUser: choose another spec.connectionSecretRef.name or delete it`,
      });
      return;
    }
    const endpoint = relayEndpoint(r);
    const why = issueReason(user, entry, conn?.metadata.annotations?.[ISSUED_AT_ANNOTATION], now);
    if (why) {
      // 32 random bytes: a password no one will guess; base64url survives URLs and config files.
      const password = crypto.randomBytes(32).toString('base64url');
      const hash = await bcrypt.hash(password, ISSUED_BCRYPT_COST);
      entry = withNewHash(user, entry, hash, now);
      // The relay learns the hash before the app learns the password.
      await this.setEntry(r, username, entry);
      const ca = await this.relayCa(r);
      await this.writeConnectionSecret(user, connectionData(endpoint, username, password, ca), entry.hashes[0]!.issuedAt);
      const rotated = why !== 'initial';
      await this.d.recordEvent(user as unknown as KubeObject, 'Normal', rotated ? 'PasswordRotated' : 'PasswordIssued',
        rotated ? `new password issued (${why}); the previous one works until ${entry.hashes[1]?.notAfter ?? 'now'}` : `password issued into Secret ${user.spec.connectionSecretRef.name}`);
    } else {
      const next = tidied(user, entry as StoreEntry, now);
      if (JSON.stringify(next) !== JSON.stringify(entry)) await this.setEntry(r, username, next);
      entry = next;
    }
    const e = entry as StoreEntry;
    const wake = nextWake(user, e, now);
    const status: SmtpUserStatus = { username, relay: endpoint, passwordIssueTime: e.hashes[0]?.issuedAt };
    const period = parseDuration(user.spec.rotation?.period);
    if (period !== undefined && status.passwordIssueTime) status.nextRotationTime = new Date(Date.parse(status.passwordIssueTime) + period).toISOString();
    await this.writeStatus(user, status, { status: 'True', reason: USER_REASONS.Issued, message: `credentials in Secret ${user.spec.connectionSecretRef.name}; user ${username} on ${endpoint.hostname}` });
    return wake !== undefined ? { requeueAfterMs: wake } : undefined;
  }

  /** Sets (or with null removes) one user's key in the relay's managed users Secret. Other users' keys are untouched (merge patch). */
  private async setEntry(relay: SmtpRelay, username: string, entry: StoreEntry | null): Promise<void> {
    const ns = relay.metadata.namespace;
    const name = names.managedUsers(relay);
    const path = resourcePath('v1', 'secrets', ns, name);
    const value = entry === null ? null : b64(JSON.stringify(entry));
    try {
      await kubeRequest(this.d.kc, { method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { data: { [username]: value } } });
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (entry === null) return;
    try {
      await kubeRequest(this.d.kc, {
        method: 'POST',
        path: resourcePath('v1', 'secrets', ns),
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name,
            namespace: ns,
            labels: { [LABEL_MANAGED_BY]: MANAGED_BY, 'app.kubernetes.io/instance': relay.metadata.name, 'app.kubernetes.io/component': 'smtpusers' },
            ownerReferences: [{ apiVersion: API_VERSION, kind: 'SmtpRelay', name: relay.metadata.name, uid: relay.metadata.uid as string, controller: true }],
          },
          type: 'Opaque',
          data: { [username]: value },
        },
      });
    } catch (err) {
      // Another user's reconcile created it first: patch our key into it.
      if (!isConflict(err)) throw err;
      await kubeRequest(this.d.kc, { method: 'PATCH', path, contentType: 'application/merge-patch+json', body: { data: { [username]: value } } });
    }
  }

  private async writeConnectionSecret(user: SmtpUser, data: Record<string, string>, issuedAt: string): Promise<void> {
    const ns = user.metadata.namespace;
    const name = user.spec.connectionSecretRef.name;
    const metadata = {
      name,
      namespace: ns,
      labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [OWNER_UID_LABEL]: user.metadata.uid as string },
      annotations: { [ISSUED_AT_ANNOTATION]: issuedAt },
      ownerReferences: [{ apiVersion: API_VERSION, kind: USER_KIND, name: user.metadata.name, uid: user.metadata.uid as string, controller: true }],
    };
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)]));
    const existing = await this.getSecret(ns, name);
    if (existing) {
      // data replaced whole: a key no longer produced (ca.crt) goes.
      const remove = Object.fromEntries(Object.keys(existing.data ?? {}).filter((k) => !(k in encoded)).map((k) => [k, null]));
      await kubeRequest(this.d.kc, { method: 'PATCH', path: resourcePath('v1', 'secrets', ns, name), contentType: 'application/merge-patch+json', body: { metadata: { annotations: metadata.annotations }, data: { ...remove, ...encoded } } });
    } else {
      await kubeRequest(this.d.kc, { method: 'POST', path: resourcePath('v1', 'secrets', ns), body: { apiVersion: 'v1', kind: 'Secret', metadata, type: 'Opaque', data: encoded } });
    }
  }

  /** ca.crt of the relay's TLS Secret (private CA), when it has one. */
  private async relayCa(relay: SmtpRelay): Promise<string | undefined> {
    const tlsName = relay.spec.tls.secretName ?? relay.metadata.name + '-tls';
    const s = await this.getSecret(relay.metadata.namespace, tlsName);
    const ca = unb64(s?.data?.['ca.crt']);
    return ca && ca.trim() !== '' ? ca : undefined;
  }

  private async getSecret(ns: string, name: string): Promise<SecretObj | undefined> {
    try {
      return await kubeRequest<SecretObj>(this.d.kc, { method: 'GET', path: resourcePath('v1', 'secrets', ns, name) });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async addFinalizer(user: SmtpUser): Promise<void> {
    const finalizers = [...(user.metadata.finalizers ?? []), USER_FINALIZER];
    await kubeRequest(this.d.kc, {
      method: 'PATCH',
      path: resourcePath(API_VERSION, USER_PLURAL, user.metadata.namespace, user.metadata.name),
      contentType: 'application/merge-patch+json',
      body: { metadata: { finalizers, resourceVersion: user.metadata.resourceVersion } },
    });
  }

  private async removeFinalizer(user: SmtpUser): Promise<void> {
    const finalizers = (user.metadata.finalizers ?? []).filter((f) => f !== USER_FINALIZER);
    try {
      await kubeRequest(this.d.kc, {
        method: 'PATCH',
        path: resourcePath(API_VERSION, USER_PLURAL, user.metadata.namespace, user.metadata.name),
        contentType: 'application/merge-patch+json',
        body: { metadata: { finalizers, resourceVersion: user.metadata.resourceVersion } },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async writeStatus(user: SmtpUser, fields: SmtpUserStatus, ready: { status: 'True' | 'False'; reason: string; message: string }): Promise<void> {
    const now = this.now();
    let conditions = setCondition(user.status?.conditions, { type: 'Ready', ...ready, observedGeneration: user.metadata.generation }, now);
    conditions = setCondition(conditions, { type: 'Reconciling', status: 'False', reason: ready.reason, message: 'reconciled', observedGeneration: user.metadata.generation }, now);
    conditions = setCondition(conditions, { type: 'Stalled', status: ready.status === 'True' ? 'False' : 'True', reason: ready.reason, message: ready.message, observedGeneration: user.metadata.generation }, now);
    const status: SmtpUserStatus = { ...fields, observedGeneration: user.metadata.generation, conditions };
    if (JSON.stringify(status) === JSON.stringify(user.status)) return;
    await kubeRequest(this.d.kc, {
      method: 'PATCH',
      path: resourcePath(API_VERSION, USER_PLURAL, user.metadata.namespace, user.metadata.name, 'status'),
      contentType: 'application/merge-patch+json',
      body: { status: { ...status, relay: fields.relay ?? null, passwordIssueTime: fields.passwordIssueTime ?? null, nextRotationTime: fields.nextRotationTime ?? null } },
    });
  }
}
