// The real cert-manager for the test control plane:
// - its CRDs, read from the pinned cert-manager Go module (deploy/crds) in the
//   Go module cache (nothing copied into this repo);
// - its controller, built from test/controlplane/cert-manager into
//   .cache/bin/cert-manager by scripts/controlplane-build.mjs;
// - a SelfSigned ClusterIssuer `selfsigned`, a CA Certificate whose Secret is
//   cert-manager/test-ca, and a CA ClusterIssuer `test-ca` that signs with it.
// Tests trust relay certificates through TEST_CA_SECRET's ca.crt / tls.crt.
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { kubeJson, kubeRequest, type KubeHttpTarget } from './kube-http.js';
import { ManagedProcess } from './process.js';
import { targetFromKubeconfig } from './service-account.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The Go module that pins cert-manager's version (its go.mod) and builds the controller. */
export const CERT_MANAGER_GO_MODULE_DIR = path.join(repoRoot, 'test', 'controlplane', 'cert-manager');
export const CERT_MANAGER_BINARY = path.join(repoRoot, '.cache', 'bin', 'cert-manager');

/** The Secret holding the test CA (tls.crt is the CA certificate; ca.crt too, self-signed). */
export const TEST_CA_SECRET = { namespace: 'cert-manager', name: 'test-ca' } as const;
export const SELFSIGNED_ISSUER = 'selfsigned';
export const TEST_CA_ISSUER = 'test-ca';

const FIELD_MANAGER = 'cert-manager-test-harness';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface CertManagerOptions {
  kubeconfig: string;
  /** Where cert-manager.log goes. */
  workDir: string;
  /** cert-manager's cluster resource namespace (holds the test CA Secret). Default 'cert-manager'. */
  namespace?: string;
  /** Time allowed for CRDs, the controller and the test CA. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface CertManager {
  /** The controller's process id. */
  pid: number | undefined;
  logPath: string;
  /** ms per phase: crds (install + Established), issuers (controller start until test-ca Ready). */
  timings: { crds: number; issuers: number };
  stop(): Promise<void>;
}

let moduleDirPromise: Promise<string> | undefined;

/**
 * The directory of the pinned cert-manager module in the Go module cache,
 * downloading it from the module proxy if needed (the version comes from go.mod).
 */
export function certManagerModuleDir(): Promise<string> {
  moduleDirPromise ??= (async () => {
    const run = promisify(execFile);
    let stdout: string;
    try {
      ({ stdout } = await run('go', ['mod', 'download', '-json', 'github.com/cert-manager/cert-manager'], {
        cwd: CERT_MANAGER_GO_MODULE_DIR,
        maxBuffer: 1 << 20,
      }));
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { stderr?: string };
      if (e.code === 'ENOENT') throw new Error('Go is not installed: the cert-manager CRDs are read from its Go module (install Go >= 1.26).');
      throw new Error(`go mod download github.com/cert-manager/cert-manager failed: ${e.stderr?.trim() || e.message}`);
    }
    const info = JSON.parse(stdout) as { Dir?: string; Error?: string; Version?: string };
    if (info.Error || !info.Dir) throw new Error(`go mod download github.com/cert-manager/cert-manager: ${info.Error ?? 'no Dir reported'}`);
    return info.Dir;
  })();
  moduleDirPromise.catch(() => (moduleDirPromise = undefined));
  return moduleDirPromise;
}

/**
 * Makes a CRD file installable as plain YAML. deploy/crds is plain in v1.21,
 * but the Helm chart's copies (and other releases) carry template lines:
 * whole-line directives ({{- if }}, {{- end }}, {{- include ... }}) are dropped,
 * and a map entry whose value is a template is dropped with its key.
 */
export function renderCrdTemplate(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('{{') && trimmed.endsWith('}}')) continue;
    if (/^\s*(- )?[\w./-]+:\s*"?\{\{.*\}\}"?\s*$/.test(line)) continue;
    if (line.includes('{{')) throw new Error(`cannot render template line in cert-manager CRD: ${trimmed}`);
    out.push(line);
  }
  return out.join('\n');
}

interface CrdDoc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> | null; annotations?: Record<string, string> | null };
  spec: { conversion?: { strategy?: string } };
}

/** Empty label/annotation maps are left when every entry was a template. */
function dropEmptyMaps(crd: CrdDoc): void {
  for (const key of ['labels', 'annotations'] as const) {
    const map = crd.metadata[key];
    if (map == null || Object.keys(map).length === 0) delete crd.metadata[key];
  }
}

/** Parses one (possibly Helm-templated) CRD file into CRD objects ready for server-side apply. */
export function crdDocsFromYaml(text: string, source: string): object[] {
  const crds: CrdDoc[] = [];
  for (const doc of parseAllDocuments(renderCrdTemplate(text))) {
    if (doc.errors.length > 0) throw new Error(`${source}: invalid YAML: ${doc.errors[0]?.message}`);
    const obj = doc.toJS() as CrdDoc | null;
    if (!obj || obj.kind !== 'CustomResourceDefinition') continue;
    dropEmptyMaps(obj);
    // The conversion webhook is the cert-manager webhook, which is not run here.
    if (obj.spec.conversion?.strategy === 'Webhook') obj.spec.conversion = { strategy: 'None' };
    crds.push(obj);
  }
  return crds;
}

let crdDocsPromise: Promise<object[]> | undefined;

/** cert-manager's CRDs (deploy/crds of the pinned module) as objects ready for server-side apply. */
export async function certManagerCrdDocs(): Promise<object[]> {
  // Parsing ~5,000 lines of YAML takes a second on a busy machine: once per process.
  crdDocsPromise ??= readCrdDocs();
  crdDocsPromise.catch(() => (crdDocsPromise = undefined));
  return structuredClone(await crdDocsPromise);
}

async function readCrdDocs(): Promise<object[]> {
  const dir = path.join(await certManagerModuleDir(), 'deploy', 'crds');
  const files = (await fsp.readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const crds: object[] = [];
  for (const file of files) {
    const source = path.join(dir, file);
    crds.push(...crdDocsFromYaml(await fsp.readFile(source, 'utf8'), source));
  }
  if (crds.length === 0) throw new Error(`no CustomResourceDefinitions found in ${dir}`);
  return crds;
}

async function apply(target: KubeHttpTarget, apiPath: string, obj: object): Promise<unknown> {
  return kubeJson(target, 'PATCH', `${apiPath}?fieldManager=${FIELD_MANAGER}&force=true`, obj, 'application/apply-patch+yaml');
}

async function installCrds(target: KubeHttpTarget, deadline: number): Promise<void> {
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  const crds = (await certManagerCrdDocs()) as CrdDoc[];
  await Promise.all(crds.map((crd) => apply(target, `${base}/${crd.metadata.name}`, crd)));
  for (const crd of crds) {
    for (;;) {
      const got = await kubeJson<{ status?: { conditions?: { type: string; status: string }[] } }>(target, 'GET', `${base}/${crd.metadata.name}`);
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} was not Established in time`);
      await sleep(50);
    }
  }
}

async function ensureNamespace(target: KubeHttpTarget, name: string): Promise<void> {
  const res = await kubeRequest(target, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating namespace ${name} answered ${res.status}: ${res.text.slice(0, 300)}`);
}

/** The three objects that give tests a CA: selfsigned -> Certificate test-ca -> ClusterIssuer test-ca. */
export function testCaObjects(namespace: string) {
  return {
    selfSigned: { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: SELFSIGNED_ISSUER }, spec: { selfSigned: {} } },
    caCertificate: {
      apiVersion: 'cert-manager.io/v1',
      kind: 'Certificate',
      metadata: { name: TEST_CA_SECRET.name, namespace },
      spec: {
        isCA: true,
        commonName: 'smtp-relay-operator test CA',
        secretName: TEST_CA_SECRET.name,
        duration: '8760h',
        privateKey: { algorithm: 'ECDSA', size: 256 },
        issuerRef: { group: 'cert-manager.io', kind: 'ClusterIssuer', name: SELFSIGNED_ISSUER },
      },
    },
    caIssuer: { apiVersion: 'cert-manager.io/v1', kind: 'ClusterIssuer', metadata: { name: TEST_CA_ISSUER }, spec: { ca: { secretName: TEST_CA_SECRET.name } } },
  };
}

type Conditioned = { status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] } };
const readyCondition = (obj: Conditioned) => obj.status?.conditions?.find((c) => c.type === 'Ready');

async function waitForIssuerReady(target: KubeHttpTarget, proc: ManagedProcess, name: string, deadline: number): Promise<void> {
  let last = 'no Ready condition yet';
  for (;;) {
    if (proc.hasExited) throw new Error(`cert-manager exited (log ${proc.logPath}):\n${proc.logTail()}`);
    const issuer = await kubeJson<Conditioned>(target, 'GET', `/apis/cert-manager.io/v1/clusterissuers/${name}`);
    const ready = readyCondition(issuer);
    if (ready?.status === 'True') return;
    if (ready) last = `Ready=${ready.status} ${ready.reason ?? ''}: ${ready.message ?? ''}`;
    if (Date.now() > deadline) throw new Error(`ClusterIssuer ${name} not Ready in time (${last}); cert-manager log ${proc.logPath}:\n${proc.logTail()}`);
    await sleep(100);
  }
}

/** Installs cert-manager's CRDs, runs the real controller and sets up the test CA issuer. */
export async function startCertManager(opts: CertManagerOptions): Promise<CertManager> {
  const namespace = opts.namespace ?? TEST_CA_SECRET.namespace;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  try {
    await fsp.access(CERT_MANAGER_BINARY);
  } catch {
    throw new Error(
      `cert-manager binary not found at ${CERT_MANAGER_BINARY}. Build the test control plane with \`npm run controlplane:build\` (needs Go >= 1.26).`,
    );
  }
  const target = await targetFromKubeconfig(opts.kubeconfig);
  await fsp.mkdir(opts.workDir, { recursive: true });
  let since = Date.now();
  await Promise.all([installCrds(target, deadline), ensureNamespace(target, namespace)]);
  const timings = { crds: Date.now() - since, issuers: 0 };
  since = Date.now();

  const proc = ManagedProcess.start({
    name: 'cert-manager',
    command: CERT_MANAGER_BINARY,
    args: [
      `--kubeconfig=${opts.kubeconfig}`,
      `--cluster-resource-namespace=${namespace}`,
      // A failed issuance in a test is retried in seconds, not after cert-manager's 1 h default.
      '--certificate-request-minimum-backoff-duration=5s',
      '--certificate-request-maximum-backoff-duration=30s',
      '--v=2',
    ],
    logPath: path.join(opts.workDir, 'cert-manager.log'),
  });
  const stop = () => proc.stop();
  try {
    const objs = testCaObjects(namespace);
    await apply(target, `/apis/cert-manager.io/v1/clusterissuers/${SELFSIGNED_ISSUER}`, objs.selfSigned);
    await apply(target, `/apis/cert-manager.io/v1/namespaces/${namespace}/certificates/${TEST_CA_SECRET.name}`, objs.caCertificate);
    await apply(target, `/apis/cert-manager.io/v1/clusterissuers/${TEST_CA_ISSUER}`, objs.caIssuer);
    await waitForIssuerReady(target, proc, TEST_CA_ISSUER, deadline);
    timings.issuers = Date.now() - since;
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: proc.pid, logPath: proc.logPath, timings, stop };
}
