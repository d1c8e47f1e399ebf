// The real cert-manager controller in the test control plane issues real
// certificates: a Certificate signed by ClusterIssuer test-ca becomes Ready, its
// Secret holds a certificate for the requested name that chains to the test CA,
// and a deleted Secret is issued again.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { TEST_CA_ISSUER, TEST_CA_SECRET, certManagerCrdDocs, certManagerModuleDir, crdDocsFromYaml } from '../harness/cert-manager.js';
import { kubeJson, kubeRequest, type KubeHttpTarget } from '../harness/kube-http.js';
import { createTestNamespace, kubeconfigPath, waitFor, type TestNamespace } from '../harness/kube.js';
import { targetFromKubeconfig } from '../harness/service-account.js';

const HOST = 'smtp.example.test';

interface Secret {
  type?: string;
  metadata: { uid: string };
  data?: Record<string, string>;
}
interface Certificate {
  status?: { conditions?: { type: string; status: string; message?: string }[]; notAfter?: string; revision?: number };
}

let admin: KubeHttpTarget;
let ns: TestNamespace;

const secretPath = (namespace: string, name: string) => `/api/v1/namespaces/${namespace}/secrets/${name}`;
const certificatePath = (namespace: string, name: string) => `/apis/cert-manager.io/v1/namespaces/${namespace}/certificates/${name}`;
const field = (secret: Secret, key: string) => Buffer.from(secret.data?.[key] ?? '', 'base64');

async function getSecret(namespace: string, name: string): Promise<Secret | undefined> {
  const res = await kubeRequest(admin, 'GET', secretPath(namespace, name));
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET secret ${namespace}/${name} answered ${res.status}`);
  return JSON.parse(res.text) as Secret;
}

async function waitForCertificateReady(namespace: string, name: string): Promise<Certificate> {
  return waitFor(
    async () => {
      const crt = await kubeJson<Certificate>(admin, 'GET', certificatePath(namespace, name));
      const ready = crt.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status !== 'True') throw new Error(`Ready=${ready?.status ?? 'absent'}: ${ready?.message ?? ''}`);
      return crt;
    },
    { description: `Certificate ${namespace}/${name} Ready=True`, timeoutMs: 60_000 },
  );
}

async function testCa(): Promise<X509Certificate> {
  const secret = await getSecret(TEST_CA_SECRET.namespace, TEST_CA_SECRET.name);
  if (!secret) throw new Error(`the test CA Secret ${TEST_CA_SECRET.namespace}/${TEST_CA_SECRET.name} does not exist`);
  return new X509Certificate(field(secret, 'tls.crt'));
}

beforeAll(async () => {
  if (process.env.SMTP_RELAY_CERT_MANAGER !== '1') {
    throw new Error('this test needs cert-manager in the test control plane; globalSetup did not start it (SMTP_RELAY_CERT_MANAGER is not 1)');
  }
  admin = await targetFromKubeconfig(kubeconfigPath());
  ns = await createTestNamespace('cert-manager-it');
});

afterAll(async () => {
  await ns?.cleanup();
});

describe('real cert-manager with ClusterIssuer test-ca', () => {
  const name = 'smtp';
  const secretName = 'smtp-tls';

  test('a Certificate for smtp.example.test becomes Ready and its Secret verifies against the test CA', async () => {
    const started = Date.now();
    await kubeJson(admin, 'PATCH', `${certificatePath(ns.name, name)}?fieldManager=cert-manager-test&force=true`, {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name, namespace: ns.name },
      spec: {
        secretName,
        dnsNames: [HOST],
        privateKey: { algorithm: 'ECDSA', size: 256 },
        issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: TEST_CA_ISSUER },
      },
    }, 'application/apply-patch+yaml');
    const crt = await waitForCertificateReady(ns.name, name);
    process.stdout.write(`Certificate Ready after ${Date.now() - started}ms\n`);

    const secret = await getSecret(ns.name, secretName);
    expect(secret?.type).toBe('kubernetes.io/tls');
    const leaf = new X509Certificate(field(secret!, 'tls.crt'));
    const ca = await testCa();

    expect(leaf.subjectAltName).toBe(`DNS:${HOST}`);
    expect(leaf.checkHost(HOST)).toBe(HOST);
    expect(leaf.checkHost('other.example.test')).toBeUndefined();
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.verify(leaf.publicKey)).toBe(false); // verify() can fail: the leaf is not self-signed
    expect(leaf.checkPrivateKey(createPrivateKey(field(secret!, 'tls.key')))).toBe(true);
    expect(new X509Certificate(field(secret!, 'ca.crt')).fingerprint256).toBe(ca.fingerprint256);
    expect(new Date(crt.status!.notAfter!).getTime()).toBe(new Date(leaf.validTo).getTime());
  });

  test('deleting the Secret makes cert-manager issue it again', async () => {
    const before = await getSecret(ns.name, secretName);
    expect(before).toBeDefined();
    const oldSerial = new X509Certificate(field(before!, 'tls.crt')).serialNumber;

    const started = Date.now();
    await kubeJson(admin, 'DELETE', secretPath(ns.name, secretName));
    const after = await waitFor(
      async () => {
        const s = await getSecret(ns.name, secretName);
        return s && s.metadata.uid !== before!.metadata.uid && s.data?.['tls.crt'] ? s : undefined;
      },
      { description: `Secret ${ns.name}/${secretName} issued again`, timeoutMs: 60_000 },
    );
    process.stdout.write(`Secret re-issued after ${Date.now() - started}ms\n`);

    const leaf = new X509Certificate(field(after, 'tls.crt'));
    expect(leaf.serialNumber).not.toBe(oldSerial);
    expect(leaf.checkHost(HOST)).toBe(HOST);
    expect(leaf.verify((await testCa()).publicKey)).toBe(true);
    await waitForCertificateReady(ns.name, name);
  });
});

describe('cert-manager CRDs from the pinned Go module', () => {
  type Crd = { metadata: { name: string }; spec: unknown };

  test('are all installed and Established', async () => {
    const crds = (await certManagerCrdDocs()) as Crd[];
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(
      ['certificaterequests.cert-manager.io', 'certificates.cert-manager.io', 'challenges.acme.cert-manager.io', 'clusterissuers.cert-manager.io', 'issuers.cert-manager.io', 'orders.acme.cert-manager.io'],
    );
    for (const crd of crds) {
      const got = await kubeJson<{ status?: { conditions?: { type: string; status: string }[] } }>(admin, 'GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
      expect(got.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    }
  });

  test("the Helm chart's templated copies render to the same CRDs", async () => {
    const plain = new Map(((await certManagerCrdDocs()) as Crd[]).map((c) => [c.metadata.name, c]));
    const chartDir = path.join(await certManagerModuleDir(), 'deploy', 'charts', 'cert-manager', 'templates');
    const files = (await fsp.readdir(chartDir)).filter((f) => f.startsWith('crd-'));
    expect(files).toHaveLength(plain.size);
    for (const file of files) {
      const text = await fsp.readFile(path.join(chartDir, file), 'utf8');
      expect(text).toContain('{{');
      const rendered = crdDocsFromYaml(text, file) as Crd[];
      expect(rendered).toHaveLength(1);
      expect(rendered[0]!.spec).toEqual(plain.get(rendered[0]!.metadata.name)?.spec);
    }
  });
});
