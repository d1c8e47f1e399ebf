// The real test control plane: etcd + kube-apiserver built from pinned Go modules
// (scripts/controlplane-build.mjs), on free loopback ports, data in a temp dir.
// Used by jest's globalSetup, by `npm start`'s local mode (via tsx) and by bench/.
// There is no kube-controller-manager: no garbage collector, no namespace
// deletion, no Deployment->Pod controllers. The API server, RBAC, admission
// (incl. PodSecurity), server-side apply, CRDs and TokenRequest are all real.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { kubeJson, kubeRequest, type KubeHttpTarget } from './kube-http.js';
import { createPki, type ControlPlanePki } from './pki.js';
import { ManagedProcess } from './process.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const defaultBinDir = path.join(repoRoot, '.cache', 'bin');

export interface ControlPlaneOptions {
  /** Where data, certs, logs and the kubeconfig go. Default: a new temp dir, removed on stop(). */
  workDir?: string;
  /** Start cert-manager (test/harness/cert-manager.ts) when it exists. Default true. */
  certManager?: boolean;
  /** Install every crds/*.yaml and wait until Established. Default true. */
  installCrds?: boolean;
  /** Directory of CRD YAML files. Default <repo>/crds. */
  crdsDir?: string;
  /** Write an audit log (all requests, Metadata level) to workDir/audit.log. Default false. */
  audit?: boolean;
  /** Where kube-apiserver and etcd binaries are. Default <repo>/.cache/bin. */
  binDir?: string;
  /** Keep workDir after stop() even if the harness created it. Default: env SMTP_RELAY_KEEP_CONTROLPLANE=1. */
  keepWorkDir?: boolean;
  /** Extra kube-apiserver flags (appended; a later flag wins). */
  apiServerExtraArgs?: string[];
  /** Time allowed for each component to become ready. Default 60 s. */
  readyTimeoutMs?: number;
}

export interface ControlPlane {
  /** Admin kubeconfig (system:masters), certificate data embedded. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  workDir: string;
  caCertPath: string;
  adminCertPath: string;
  adminKeyPath: string;
  /** http://127.0.0.1:<port> */
  etcdEndpoint: string;
  /** Set when started with audit: true. */
  auditLogPath: string | undefined;
  /** True when cert-manager was started (ClusterIssuer `test-ca` is ready). */
  certManager: boolean;
  /** Names of the CRDs installed from crds/. */
  crds: string[];
  /** How long start took, per phase, in ms. */
  timings: Record<string, number>;
  /** The kube-apiserver process id (undefined while it is stopped). */
  apiServerPid(): number | undefined;
  /** The etcd process id (undefined once it stopped). */
  etcdPid(): number | undefined;
  /** Stop the kube-apiserver process (etcd keeps running). */
  stopApiServer(): Promise<void>;
  /** Start it again with the same flags and wait for /readyz. */
  startApiServer(): Promise<void>;
  /** stopApiServer, wait downMs, startApiServer. */
  restartApiServer(downMs?: number): Promise<void>;
  /** Stop everything; idempotent. */
  stop(): Promise<void>;
}

interface CertManagerModule {
  startCertManager(opts: { kubeconfig: string; workDir: string }): Promise<{ stop(): Promise<void> }>;
}

/** Ports this process handed out: the kernel may offer a just-closed port again (seen in CI:
 * one relay got the same port for submission and metrics), so never hand one out twice. */
const handedOut = new Set<number>();

function freePortOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function getFreePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePortOnce();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('getFreePort: the kernel kept offering ports this process already handed out');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls check() until it returns true; throws with the process log if it exits or time runs out. */
async function waitUntilReady(what: string, proc: ManagedProcess, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc.hasExited) {
      throw new Error(`${what} exited during startup (log ${proc.logPath}):\n${proc.logTail()}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${what} was not ready after ${timeoutMs}ms${lastError ? ` (last error: ${lastError})` : ''} (log ${proc.logPath}):\n${proc.logTail()}`);
}

function httpGet(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export function requireBinary(binDir: string, name: string): string {
  const bin = path.join(binDir, name);
  if (!fs.existsSync(bin)) {
    throw new Error(
      `${name} binary not found at ${bin}. Build the test control plane with \`npm run controlplane:build\` ` +
        '(needs Go >= 1.26: https://go.dev/doc/install).',
    );
  }
  return bin;
}

export interface EtcdPorts {
  client: number;
  peer: number;
}

export function etcdArgs(dataDir: string, ports: EtcdPorts): string[] {
  const client = `http://127.0.0.1:${ports.client}`;
  const peer = `http://127.0.0.1:${ports.peer}`;
  return [
    '--name=test',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=test=${peer}`,
    '--initial-cluster-state=new',
    // Test data is disposable: skip fsync (the biggest startup and write cost).
    '--unsafe-no-fsync',
    '--quota-backend-bytes=2147483648',
    '--log-level=warn',
  ];
}

export interface ApiServerConfig {
  port: number;
  etcdEndpoint: string;
  pki: ControlPlanePki;
  certDir: string;
  auditLogPath?: string;
  auditPolicyPath?: string;
  extraArgs?: string[];
}

export function apiServerArgs(c: ApiServerConfig): string[] {
  const args = [
    `--etcd-servers=${c.etcdEndpoint}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${c.port}`,
    `--cert-dir=${c.certDir}`,
    `--tls-cert-file=${c.pki.servingCertPath}`,
    `--tls-private-key-file=${c.pki.servingKeyPath}`,
    `--client-ca-file=${c.pki.caCertPath}`,
    '--authorization-mode=RBAC',
    // As in real clusters (kubeadm sets it): otherwise the API server itself refuses
    // privileged pods with 422 and PodSecurity admission is never what decides.
    '--allow-privileged=true',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${c.pki.serviceAccountPubPath}`,
    `--service-account-signing-key-file=${c.pki.serviceAccountKeyPath}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    // One API server, nothing to reconcile the kubernetes Endpoints against.
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    '--v=0',
  ];
  if (c.auditLogPath && c.auditPolicyPath) {
    args.push(`--audit-log-path=${c.auditLogPath}`, `--audit-policy-file=${c.auditPolicyPath}`, '--audit-log-format=json', '--audit-log-maxbackup=0');
  }
  return [...args, ...(c.extraArgs ?? [])];
}

// Every request at Metadata level (verb, user, object ref, response code), no bodies.
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

export function adminKubeconfigYaml(server: string, ca: Buffer, cert: Buffer, key: Buffer): string {
  const b64 = (b: Buffer) => b.toString('base64');
  return JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': b64(ca) } }],
      users: [{ name: 'admin', user: { 'client-certificate-data': b64(cert), 'client-key-data': b64(key) } }],
      contexts: [{ name: 'test-admin', context: { cluster: 'test', user: 'admin' } }],
      'current-context': 'test-admin',
    },
    null,
    2,
  );
}

interface CrdDocument {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string };
}

/** Reads every CRD from dir/*.yaml|yml (multi-document files allowed). */
export function readCrds(dir: string): CrdDocument[] {
  if (!fs.existsSync(dir)) return [];
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  const crds: CrdDocument[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(fs.readFileSync(path.join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: invalid YAML: ${doc.errors[0]?.message}`);
      const obj = doc.toJS() as CrdDocument | null;
      if (!obj) continue;
      if (obj.kind !== 'CustomResourceDefinition' || !obj.metadata?.name) {
        throw new Error(`${file}: contains a ${obj.kind ?? 'document without kind'}; the harness installs only named CustomResourceDefinitions`);
      }
      crds.push(obj);
    }
  }
  return crds;
}

async function installCrds(target: KubeHttpTarget, crds: CrdDocument[], timeoutMs: number): Promise<string[]> {
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  const names = crds.map((c) => c.metadata!.name!);
  await Promise.all(
    crds.map((crd) =>
      kubeJson(target, 'PATCH', `${base}/${crd.metadata!.name}?fieldManager=controlplane-harness&force=true`, crd, 'application/apply-patch+yaml'),
    ),
  );
  const deadline = Date.now() + timeoutMs;
  for (const name of names) {
    for (;;) {
      const crd = await kubeJson<{ status?: { conditions?: { type: string; status: string }[] } }>(target, 'GET', `${base}/${name}`);
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} was not Established after ${timeoutMs}ms`);
      await sleep(50);
    }
  }
  return names;
}

async function loadCertManager(): Promise<CertManagerModule | undefined> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  if (!fs.existsSync(path.join(here, 'cert-manager.ts')) && !fs.existsSync(path.join(here, 'cert-manager.js'))) return undefined;
  // A variable specifier keeps tsc from requiring the module to exist at type-check time.
  const specifier = './cert-manager.js';
  return (await import(specifier)) as CertManagerModule;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now();
  const timings: Record<string, number> = {};
  const mark = (phase: string, since: number) => (timings[phase] = Date.now() - since);
  const binDir = opts.binDir ?? defaultBinDir;
  const etcdBin = requireBinary(binDir, 'etcd');
  const apiServerBin = requireBinary(binDir, 'kube-apiserver');
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const ownsWorkDir = opts.workDir === undefined;
  const workDir = opts.workDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), 'smtp-relay-cp-')));
  const keepWorkDir = opts.keepWorkDir ?? process.env.SMTP_RELAY_KEEP_CONTROLPLANE === '1';
  await fsp.mkdir(workDir, { recursive: true });

  let etcd: ManagedProcess | undefined;
  let apiServer: ManagedProcess | undefined;
  let certManager: { stop(): Promise<void> } | undefined;
  let stopped = false;

  const stopAll = async (removeWorkDir: boolean) => {
    if (stopped) return;
    stopped = true;
    await certManager?.stop().catch(() => undefined);
    await apiServer?.stop();
    await etcd?.stop();
    if (removeWorkDir) await fsp.rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  };

  try {
    let since = Date.now();
    const [pki, clientPort, peerPort, apiPort] = await Promise.all([
      createPki(path.join(workDir, 'pki')),
      getFreePort(),
      getFreePort(),
      getFreePort(),
    ]);
    mark('pki', since);

    // etcd and kube-apiserver start together: the API server retries its etcd
    // connection, so etcd's own startup overlaps with the API server's init.
    since = Date.now();
    const etcdEndpoint = `http://127.0.0.1:${clientPort}`;
    etcd = ManagedProcess.start({
      name: 'etcd',
      command: etcdBin,
      args: etcdArgs(path.join(workDir, 'etcd'), { client: clientPort, peer: peerPort }),
      logPath: path.join(workDir, 'etcd.log'),
    });
    const etcdProc = etcd;

    const auditLogPath = opts.audit ? path.join(workDir, 'audit.log') : undefined;
    const auditPolicyPath = opts.audit ? path.join(workDir, 'audit-policy.yaml') : undefined;
    if (auditPolicyPath) await fsp.writeFile(auditPolicyPath, AUDIT_POLICY);
    const args = apiServerArgs({ port: apiPort, etcdEndpoint, pki, certDir: path.join(workDir, 'apiserver-certs'), auditLogPath, auditPolicyPath, extraArgs: opts.apiServerExtraArgs });
    const server = `https://127.0.0.1:${apiPort}`;
    const [ca, cert, key] = await Promise.all([pki.caCertPath, pki.adminCertPath, pki.adminKeyPath].map((p) => fsp.readFile(p)));
    const admin: KubeHttpTarget = { server, ca: ca!, cert: cert!, key: key! };

    const startApiServer = async () => {
      if (stopped) throw new Error('this control plane was stopped; start a new one');
      if (apiServer && !apiServer.hasExited) return;
      const s = Date.now();
      apiServer = ManagedProcess.start({ name: 'kube-apiserver', command: apiServerBin, args, logPath: path.join(workDir, 'kube-apiserver.log') });
      const proc = apiServer;
      await waitUntilReady('kube-apiserver', proc, async () => {
        const res = await kubeRequest(admin, 'GET', '/readyz', undefined, undefined, 2000);
        if (res.status === 200) return true;
        throw new Error(`/readyz answered ${res.status}: ${res.text.split('\n').filter((l) => l.includes('failed')).join('; ').slice(0, 300)}`);
      }, readyTimeoutMs);
      timings.lastApiServerStart = Date.now() - s;
    };
    const stopApiServer = async () => {
      await apiServer?.stop();
    };

    await Promise.all([
      waitUntilReady('etcd', etcdProc, async () => (await httpGet(`${etcdEndpoint}/health`)).text.includes('"health":"true"'), readyTimeoutMs).then(() =>
        mark('etcd', since),
      ),
      startApiServer(),
    ]);
    mark('apiserver', since);

    const kubeconfigPath = path.join(workDir, 'kubeconfig');
    await fsp.writeFile(kubeconfigPath, adminKubeconfigYaml(server, ca!, cert!, key!), { mode: 0o600 });

    // Our CRDs and cert-manager (which installs its own) are independent: in parallel.
    const installOurCrds = async (): Promise<string[]> => {
      if (!(opts.installCrds ?? true)) return [];
      const s = Date.now();
      const names = await installCrds(admin, readCrds(opts.crdsDir ?? path.join(repoRoot, 'crds')), readyTimeoutMs);
      mark('crds', s);
      return names;
    };
    const startOptionalCertManager = async (): Promise<void> => {
      if (!(opts.certManager ?? true)) return;
      const mod = await loadCertManager();
      if (!mod) return;
      const s = Date.now();
      const cmDir = path.join(workDir, 'cert-manager');
      await fsp.mkdir(cmDir, { recursive: true });
      certManager = await mod.startCertManager({ kubeconfig: kubeconfigPath, workDir: cmDir });
      mark('certManager', s);
    };
    const [crds] = await Promise.all([installOurCrds(), startOptionalCertManager()]);
    mark('total', t0);

    return {
      kubeconfigPath,
      server,
      workDir,
      caCertPath: pki.caCertPath,
      adminCertPath: pki.adminCertPath,
      adminKeyPath: pki.adminKeyPath,
      etcdEndpoint,
      auditLogPath,
      certManager: certManager !== undefined,
      crds,
      timings,
      apiServerPid: () => (apiServer && !apiServer.hasExited ? apiServer.pid : undefined),
      etcdPid: () => (etcd && !etcd.hasExited ? etcd.pid : undefined),
      stopApiServer,
      startApiServer,
      async restartApiServer(downMs = 0) {
        await stopApiServer();
        if (downMs > 0) await sleep(downMs);
        await startApiServer();
      },
      stop: () => stopAll(ownsWorkDir && !keepWorkDir),
    };
  } catch (err) {
    // Keep the logs of a failed start for diagnosis.
    await stopAll(false);
    throw new Error(`test control plane failed to start (logs kept in ${workDir}): ${(err as Error).message}`);
  }
}

/** The jest globalSetup state file (for tools and debugging; tests use KUBECONFIG). */
export const stateFilePath = path.join(repoRoot, '.cache', 'controlplane', 'state.json');

export { serviceAccountKubeconfig } from './service-account.js';
