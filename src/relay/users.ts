// Authenticated submission users from the users dir: file name = user name, content =
// password or a bcrypt hash. Comparisons take the same path whether or not the user exists.
import crypto from 'node:crypto';
import bcrypt from 'bcryptjs';
import type { DirSnapshot } from './secret-dir.js';

type Credential = { kind: 'plain'; digest: Buffer } | { kind: 'bcrypt'; hash: string };

const BCRYPT_RE = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
// A valid hash of a random string nobody knows, cost 10: unknown users pay the same bcrypt cost.
const DUMMY_BCRYPT = bcrypt.hashSync(crypto.randomBytes(16).toString('hex'), 10);
const DUMMY_DIGEST = crypto.createHash('sha256').update(crypto.randomBytes(32)).digest();
const USERNAME_RE = /^[A-Za-z0-9._@+-]{1,128}$/;

function sha256(s: string): Buffer {
  return crypto.createHash('sha256').update(s, 'utf8').digest();
}

/** One trailing newline is dropped: `kubectl create secret --from-file` keeps the editor's. */
function secretText(buf: Buffer): string {
  return buf.toString('utf8').replace(/\r?\n$/, '');
}

export class UserStore {
  private constructor(
    private readonly users: Map<string, Credential>,
    private readonly anyBcrypt: boolean,
    readonly skipped: string[],
  ) {}

  static fromSnapshot(snap: DirSnapshot): UserStore {
    const users = new Map<string, Credential>();
    const skipped: string[] = [];
    for (const [name, body] of snap.files) {
      const value = secretText(body);
      if (!USERNAME_RE.test(name) || value === '') {
        skipped.push(name);
        continue;
      }
      users.set(name, BCRYPT_RE.test(value) ? { kind: 'bcrypt', hash: value } : { kind: 'plain', digest: sha256(value) });
    }
    return new UserStore(users, [...users.values()].some((c) => c.kind === 'bcrypt'), skipped);
  }

  static empty(): UserStore {
    return new UserStore(new Map(), false, []);
  }

  get size(): number {
    return this.users.size;
  }

  async verify(username: string, password: string): Promise<boolean> {
    const cred = this.users.get(username);
    if (!cred) {
      // Same work as for a real user, so response time does not reveal who exists.
      crypto.timingSafeEqual(sha256(password), DUMMY_DIGEST);
      if (this.anyBcrypt) await bcrypt.compare(password, DUMMY_BCRYPT);
      return false;
    }
    if (cred.kind === 'plain') return crypto.timingSafeEqual(sha256(password), cred.digest);
    return bcrypt.compare(password, cred.hash);
  }
}
