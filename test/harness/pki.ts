// A throw-away PKI for the test control plane, made with the openssl CLI:
// one CA, the kube-apiserver serving cert, an admin client cert (system:masters)
// and the service-account token signing key pair. EC P-256 keys: fast to make.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ControlPlanePki {
  caCertPath: string;
  caKeyPath: string;
  servingCertPath: string;
  servingKeyPath: string;
  adminCertPath: string;
  adminKeyPath: string;
  serviceAccountKeyPath: string;
  serviceAccountPubPath: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('openssl is not installed; the test control plane needs the openssl CLI to make its certificates');
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Issues a leaf certificate signed by the CA (OpenSSL 3: `req -x509 -CA`). Also used by scripts/cluster/pki.mjs. */
export async function issueLeaf(dir: string, name: string, ca: { cert: string; key: string }, subject: string, extensions: string[]): Promise<{ cert: string; key: string }> {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  await openssl([
    'req', '-x509', ...ecKey, '-keyout', key, '-out', cert, '-subj', subject, '-days', '7',
    '-CA', ca.cert, '-CAkey', ca.key,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    ...extensions.flatMap((e) => ['-addext', e]),
  ]);
  return { cert, key };
}

export async function createPki(dir: string): Promise<ControlPlanePki> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
  await openssl([
    'req', '-x509', ...ecKey, '-keyout', ca.key, '-out', ca.cert, '-subj', '/CN=smtp-relay-operator-test-ca', '-days', '7',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const saKey = path.join(dir, 'service-account.key');
  const saPub = path.join(dir, 'service-account.pub');
  const [serving, admin] = await Promise.all([
    issueLeaf(dir, 'apiserver', ca, '/CN=kube-apiserver', [
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc',
    ]),
    issueLeaf(dir, 'admin', ca, '/O=system:masters/CN=kubernetes-admin', ['keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth']),
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', saKey]).then(() =>
      openssl(['pkey', '-in', saKey, '-pubout', '-out', saPub]),
    ),
  ]);
  return {
    caCertPath: ca.cert,
    caKeyPath: ca.key,
    servingCertPath: serving.cert,
    servingKeyPath: serving.key,
    adminCertPath: admin.cert,
    adminKeyPath: admin.key,
    serviceAccountKeyPath: saKey,
    serviceAccountPubPath: saPub,
  };
}
