// Test PKI made with the openssl CLI: a root, an intermediate and the leaf
// certificates the broken-server corpus serves (good, rotated, expired,
// not yet valid, expiring soon, wrong host, self-signed, RSA).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KeyPair {
  key: string;
  cert: string;
  certFile: string;
}

export interface TestPki {
  dir: string;
  root: KeyPair;
  intermediate: KeyPair;
  /** Leaves signed by the intermediate; `cert` is the leaf alone, chain() appends the intermediate. */
  good: KeyPair;
  rotated: KeyPair;
  expired: KeyPair;
  notYetValid: KeyPair;
  expiringSoon: KeyPair;
  wrongHost: KeyPair;
  rsa: KeyPair;
  selfSigned: KeyPair;
  /** Leaf + intermediate PEM, as a well-configured server sends it. */
  chain(leaf: KeyPair): string;
  /** Root CA file for --ca. */
  caFile: string;
  cleanup(): void;
}

export const TEST_HOST = 'mail.test';
const DAY = 24 * 60 * 60 * 1000;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function stamp(offsetDays: number): string {
  // YYYYMMDDHHMMSSZ, the form `openssl ca -startdate/-enddate` takes.
  return new Date(Date.now() + offsetDays * DAY).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

export function createTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-pki-'));
  fs.mkdirSync(path.join(dir, 'newcerts'));
  const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
  const pair = (name: string): KeyPair => ({ key: read(`${name}.key`), cert: read(`${name}.crt`), certFile: path.join(dir, `${name}.crt`) });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

  const caConfig = (issuer: string) => {
    const file = path.join(dir, `${issuer}-ca.cnf`);
    fs.writeFileSync(path.join(dir, `${issuer}.index`), '');
    fs.writeFileSync(path.join(dir, `${issuer}.serial`), `${Math.floor(Math.random() * 1e8).toString(16).padStart(8, '0')}\n`);
    fs.writeFileSync(
      file,
      [
        '[ca]', 'default_ca = d', '[d]', `database = ${issuer}.index`, `serial = ${issuer}.serial`, 'new_certs_dir = newcerts',
        'default_md = sha256', 'policy = p', 'unique_subject = no', 'copy_extensions = none', 'email_in_dn = no', '[p]', 'commonName = supplied',
      ].join('\n'),
    );
    return file;
  };

  // Root: self-signed CA.
  openssl(['req', '-x509', ...ecKey, '-nodes', '-keyout', 'root.key', '-out', 'root.crt', '-subj', '/CN=Probe Test Root CA', '-days', '3650',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  const rootCa = caConfig('root');
  const intermediateCa = caConfig('intermediate');

  const sign = (name: string, issuer: 'root' | 'intermediate', cn: string, ext: string[], fromDays: number, toDays: number, keyArgs = ecKey) => {
    openssl(['req', '-new', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    fs.writeFileSync(path.join(dir, `${name}.ext`), `[e]\n${ext.join('\n')}\n`);
    openssl(['ca', '-batch', '-config', issuer === 'root' ? rootCa : intermediateCa, '-cert', `${issuer}.crt`, '-keyfile', `${issuer}.key`,
      '-in', `${name}.csr`, '-out', `${name}.crt`, '-notext', '-startdate', stamp(fromDays), '-enddate', stamp(toDays),
      '-extfile', `${name}.ext`, '-extensions', 'e'], dir);
    return pair(name);
  };
  const leafExt = (sans: string) => ['basicConstraints = critical,CA:FALSE', 'keyUsage = critical,digitalSignature,keyEncipherment', 'extendedKeyUsage = serverAuth', `subjectAltName = ${sans}`];
  const goodSans = `DNS:${TEST_HOST},DNS:localhost,IP:127.0.0.1`;

  const intermediate = sign('intermediate', 'root', 'Probe Test Intermediate CA', ['basicConstraints = critical,CA:TRUE,pathlen:0', 'keyUsage = critical,keyCertSign,cRLSign'], -30, 1800);
  const good = sign('good', 'intermediate', TEST_HOST, leafExt(goodSans), -1, 90);
  const rotated = sign('rotated', 'intermediate', TEST_HOST, leafExt(goodSans), -1, 90);
  const expired = sign('expired', 'intermediate', TEST_HOST, leafExt(goodSans), -100, -10);
  const notYetValid = sign('not-yet-valid', 'intermediate', TEST_HOST, leafExt(goodSans), 10, 100);
  const expiringSoon = sign('expiring-soon', 'intermediate', TEST_HOST, leafExt(goodSans), -80, 5);
  const wrongHost = sign('wrong-host', 'intermediate', 'other.test', leafExt('DNS:other.test'), -1, 90);
  const rsa = sign('rsa', 'intermediate', TEST_HOST, leafExt(goodSans), -1, 90, ['-newkey', 'rsa:2048']);
  openssl(['req', '-x509', ...ecKey, '-nodes', '-keyout', 'self-signed.key', '-out', 'self-signed.crt', '-subj', `/CN=${TEST_HOST}`, '-days', '90',
    '-addext', `subjectAltName=${goodSans}`], dir);

  return {
    dir,
    root: pair('root'),
    intermediate,
    good,
    rotated,
    expired,
    notYetValid,
    expiringSoon,
    wrongHost,
    rsa,
    selfSigned: pair('self-signed'),
    chain: (leaf) => leaf.cert + intermediate.cert,
    caFile: path.join(dir, 'root.crt'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
