// Authenticated submission users from the users dir: file name = user name, content =
// password or a bcrypt hash. Comparisons take the same path whether or not the user exists.
import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { BcryptCompare } from './bcrypt-pool.js';
import type { DirSnapshot } from './secret-dir.js';

type Credential = { kind: 'plain'; digest: Buffer } | { kind: 'bcrypt'; hash: string } | { kind: 'managed'; hashes: ManagedHash[] };

/** One password of an operator-managed user (SmtpUser): a bcrypt hash, valid until notAfterMs when set (rotation grace). */
export interface ManagedHash {
  hash: string;
  notAfterMs?: number;
}

/** An operator-managed user: its file in the managed users dir is JSON `{hashes: [{hash, notAfter?}], senders: [...]}`. */
export interface ManagedUser {
  hashes: ManagedHash[];
  senders: string[];
}

const BCRYPT_RE = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;
const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const DUMMY_DIGEST = crypto.createHash('sha256').update(crypto.randomBytes(32)).digest();
const USERNAME_RE = /^[A-Za-z0-9._@+-]{1,128}$/;

/**
 * A well-formed bcrypt hash of the given cost with a random salt and checksum: it matches no
 * password, and verifying against it costs exactly what a real hash of that cost costs.
 * Built, not hashed, so that a cost-14 store does not pay a cost-14 hash on every reload.
 */
export function dummyBcryptHash(cost: number): string {
  const chars = Array.from(crypto.randomBytes(53), (b) => BCRYPT_ALPHABET[b & 63]).join('');
  // The last salt character carries only 2 bits ('.', 'O', 'e', 'u' are the canonical ones).
  const salt = chars.slice(0, 21) + '.Oeu'[crypto.randomInt(4)];
  return `$2b$${String(cost).padStart(2, '0')}$${salt}${chars.slice(22)}`;
}

function sha256(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

/** One trailing newline is dropped: `kubectl create secret --from-file` keeps the editor's. */
function secretText(buf: Buffer): string {
  return buf.toString('utf8').replace(/\r?\n$/, '');
}

const inlineCompare: BcryptCompare = (password, hash) => bcrypt.compare(password, hash);

/**
 * The managed users dir (written by the operator for SmtpUsers): file name = user name,
 * content = JSON {hashes: [{hash, notAfter?: ISO time}], senders: ['a@x.com', '@y.com']}.
 * Malformed entries are skipped (named, never their content), never fatal.
 */
export function parseManagedUsers(snap: DirSnapshot): { users: Map<string, ManagedUser>; skipped: string[] } {
  const users = new Map<string, ManagedUser>();
  const skipped: string[] = [];
  for (const [name, body] of snap.files) {
    const user = USERNAME_RE.test(name) ? managedUserOf(body) : null;
    if (user) users.set(name, user);
    else skipped.push(name);
  }
  return { users, skipped };
}

function managedUserOf(body: Buffer): ManagedUser | null {
  let v: unknown;
  try {
    v = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const o = v as { hashes?: unknown; senders?: unknown };
  if (!Array.isArray(o.hashes) || !Array.isArray(o.senders) || !o.senders.every((s) => typeof s === 'string' && s.includes('@'))) return null;
  const hashes: ManagedHash[] = [];
  for (const h of o.hashes as unknown[]) {
    const e = h as { hash?: unknown; notAfter?: unknown };
    if (!e || typeof e.hash !== 'string' || !BCRYPT_RE.test(e.hash)) return null;
    const notAfterMs = typeof e.notAfter === 'string' ? Date.parse(e.notAfter) : undefined;
    if (notAfterMs !== undefined && Number.isNaN(notAfterMs)) return null;
    hashes.push(notAfterMs === undefined ? { hash: e.hash } : { hash: e.hash, notAfterMs });
  }
  return { hashes, senders: o.senders as string[] };
}

export class UserStore {
  /** The hash unknown users are checked against: the highest cost among the real hashes. */
  private readonly dummyHash: string | null;

  private constructor(
    private readonly users: Map<string, Credential>,
    readonly skipped: string[],
    /** Users whose secret is a plaintext password, not a bcrypt hash (names only, to warn about). */
    readonly plaintextUsers: string[],
    /** Highest bcrypt cost among the users' hashes; 0 when there is none. */
    readonly bcryptCost: number,
    private readonly compare: BcryptCompare,
  ) {
    this.dummyHash = bcryptCost > 0 ? dummyBcryptHash(Math.min(31, Math.max(4, bcryptCost))) : null; // bcrypt's valid costs
  }

  /** `compare` verifies bcrypt hashes; pass a BcryptPool's to keep bcrypt off the event loop. */
  static fromSnapshot(snap: DirSnapshot, compare: BcryptCompare = inlineCompare): UserStore {
    const users = new Map<string, Credential>();
    const skipped: string[] = [];
    const plaintext: string[] = [];
    let cost = 0;
    for (const [name, body] of snap.files) {
      const value = secretText(body);
      if (!USERNAME_RE.test(name) || value === '') {
        skipped.push(name);
        continue;
      }
      const m = BCRYPT_RE.exec(value);
      if (m) {
        users.set(name, { kind: 'bcrypt', hash: value });
        cost = Math.max(cost, Number(m[1]));
      } else {
        users.set(name, { kind: 'plain', digest: sha256(value) });
        plaintext.push(name);
      }
    }
    return new UserStore(users, skipped, plaintext.sort(), cost, compare);
  }

  /**
   * The static users (spec.auth.secretRef) merged with the operator-managed ones (SmtpUsers).
   * A name in both stays static: the managed entry is reported in `shadowed`, never merged.
   */
  static merged(staticSnap: DirSnapshot | null, managed: Map<string, ManagedUser>, compare: BcryptCompare = inlineCompare): UserStore & { shadowed: string[] } {
    const base = staticSnap ? UserStore.fromSnapshot(staticSnap, compare) : UserStore.empty();
    const users = new Map(base.users);
    const shadowed: string[] = [];
    let cost = base.bcryptCost;
    for (const [name, u] of managed) {
      if (users.has(name)) {
        shadowed.push(name);
        continue;
      }
      users.set(name, { kind: 'managed', hashes: u.hashes });
      for (const h of u.hashes) cost = Math.max(cost, Number(BCRYPT_RE.exec(h.hash)?.[1] ?? 0));
    }
    return Object.assign(new UserStore(users, base.skipped, base.plaintextUsers, cost, compare), { shadowed: shadowed.sort() });
  }

  static empty(): UserStore {
    return new UserStore(new Map(), [], [], 0, inlineCompare);
  }

  get size(): number {
    return this.users.size;
  }

  async verify(username: string, password: string): Promise<boolean> {
    const cred = this.users.get(username);
    if (!cred) {
      // Same work as for a real user, so response time does not reveal who exists.
      crypto.timingSafeEqual(sha256(password), DUMMY_DIGEST);
      if (this.dummyHash) await this.compare(password, this.dummyHash);
      return false;
    }
    if (cred.kind === 'plain') return crypto.timingSafeEqual(sha256(password), cred.digest);
    if (cred.kind === 'bcrypt') return this.compare(password, cred.hash);
    // A rotated user has two hashes during the grace period; an expired one no longer counts,
    // even before the operator removes it. Every live hash is checked (no early exit).
    const now = Date.now();
    const live = cred.hashes.filter((h) => h.notAfterMs === undefined || h.notAfterMs > now);
    if (live.length === 0) {
      if (this.dummyHash) await this.compare(password, this.dummyHash);
      return false;
    }
    const results = await Promise.all(live.map((h) => this.compare(password, h.hash)));
    return results.some(Boolean);
  }
}
