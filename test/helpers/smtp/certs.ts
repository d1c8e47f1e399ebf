// Test PKI made with the openssl CLI: a CA and ECDSA P-256 leaves for given names.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface Leaf {
  cert: string; // PEM
  key: string; // PEM
  fingerprint: string; // sha256 hex of the DER, lower case
}

export interface TestCa {
  dir: string;
  caCert: string; // PEM
  /** emptySubject: no subject DN, names only in the SAN (what cert-manager issues for a Certificate without commonName). */
  issue(name: string, sans: string[], opts?: { emptySubject?: boolean }): Leaf;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export function fingerprintOf(certPem: string): string {
  return crypto.createHash('sha256').update(new crypto.X509Certificate(certPem).raw).digest('hex');
}

export function createTestCa(dir: string): TestCa {
  fs.mkdirSync(dir, { recursive: true });
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'], dir);
  openssl(['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=smtp-relay test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt'], dir);
  let serial = 0;
  return {
    dir,
    caCert: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    issue(name, sans, opts = {}) {
      const base = `${name}-${++serial}`;
      openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.key`], dir);
      openssl(['req', '-new', '-key', `${base}.key`, '-subj', opts.emptySubject ? '/' : `/CN=${sans[0] ?? name}`, '-out', `${base}.csr`], dir);
      const ext = `subjectAltName=${opts.emptySubject ? 'critical,' : ''}${sans.map((s) => (/^[\d.]+$|:/.test(s) ? `IP:${s}` : `DNS:${s}`)).join(',')}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n`;
      fs.writeFileSync(path.join(dir, `${base}.ext`), ext);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-sha256', '-extfile', `${base}.ext`, '-out', `${base}.crt`], dir);
      const cert = fs.readFileSync(path.join(dir, `${base}.crt`), 'utf8');
      return { cert, key: fs.readFileSync(path.join(dir, `${base}.key`), 'utf8'), fingerprint: fingerprintOf(cert) };
    },
  };
}

/**
 * Writes files the way the kubelet's atomic writer does: the data in a `..<timestamp>`
 * directory, `..data` -> that directory, and `key -> ..data/key` symlinks. A later call
 * swaps `..data` with a rename, which is atomic.
 */
export function writeAtomicDir(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = `..${new Date().toISOString().replace(/[-:.]/g, '_')}_${crypto.randomBytes(4).toString('hex')}`;
  const dataDir = path.join(dir, stamp);
  fs.mkdirSync(dataDir);
  for (const [name, body] of Object.entries(files)) fs.writeFileSync(path.join(dataDir, name), body);
  const tmpLink = path.join(dir, '..data_tmp');
  fs.rmSync(tmpLink, { force: true });
  fs.symlinkSync(stamp, tmpLink);
  const old = fs.existsSync(path.join(dir, '..data')) ? fs.readlinkSync(path.join(dir, '..data')) : null;
  fs.renameSync(tmpLink, path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    const link = path.join(dir, name);
    if (!fs.existsSync(link)) fs.symlinkSync(path.join('..data', name), link);
  }
  if (old && old !== stamp) fs.rmSync(path.join(dir, old), { recursive: true, force: true });
}
