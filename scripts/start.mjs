#!/usr/bin/env node
// `npm start`: build, then run the operator.
// - A Kubernetes cluster is configured and answers: run the operator against it
//   (leader election on, extra arguments passed through) and nothing else.
// - Otherwise (or with SMTP_RELAY_LOCAL=1): the DEVELOPMENT-ONLY local mode. A private
//   control plane (etcd + kube-apiserver + cert-manager, test/harness/controlplane.ts),
//   the operator as a child process, a sample SmtpRelay `mail/outbound` with a local
//   capture upstream, and the local runtime (test/harness/local-runtime.ts) that runs the
//   relay Deployment as local processes. Ctrl-C stops everything.
// Environment: SMTP_RELAY_LOCAL=1 forces local mode (a real kubeconfig is never read);
// SMTP_RELAY_LOCAL_DIR sets local mode's work dir (default .cache/local).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cliPath = path.join(root, 'dist', 'cli.js');
const started = Date.now();
const say = (line = '') => process.stdout.write(`${line}\n`);
const warn = (line) => process.stderr.write(`${line}\n`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class StartError extends Error {}

// ---------- 1. Node and build ----------

function checkNode() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 24) {
    warn(`npm start needs Node >= 24; this is Node ${process.versions.node}.`);
    warn('Run `npm ci` (it installs Node 24 into node_modules) and use `npm start`, which puts it first on PATH.');
    process.exit(1);
  }
}

function build() {
  say('building dist/ (tsc -p tsconfig.json) ...');
  const t = Date.now();
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  if (r.error) throw new StartError(`could not run the TypeScript compiler: ${r.error.message}. Run \`npm ci\` first.`);
  if (r.status !== 0) throw new StartError('the build failed: fix the TypeScript errors above and run `npm start` again.');
  say(`built in ${seconds(Date.now() - t)}`);
}

// ---------- 2. which mode ----------

/** { cluster: true } when a configured cluster answers GET /version within 3 s, else why not. */
async function findCluster(args) {
  if (process.env.SMTP_RELAY_LOCAL === '1') return { cluster: false, why: 'SMTP_RELAY_LOCAL=1 is set' };
  const { loadKubeConfig, isClusterReachable } = await import(path.join(root, 'dist', 'kube', 'client.js'));
  // The operator's own --kubeconfig flag, when passed through, decides as it would.
  const i = args.findIndex((a) => a === '--kubeconfig' || a.startsWith('--kubeconfig='));
  const explicit = i < 0 ? undefined : args[i].includes('=') ? args[i].slice('--kubeconfig='.length) : args[i + 1];
  let kc;
  try {
    kc = loadKubeConfig({ kubeconfig: explicit });
  } catch (err) {
    return { cluster: false, why: err.message };
  }
  const server = kc.getCurrentCluster()?.server ?? '(in-cluster)';
  if (!(await isClusterReachable(kc, 3000))) return { cluster: false, why: `the configured cluster ${server} did not answer GET /version within 3 s` };
  return { cluster: true, server };
}

function runOperatorAgainstCluster(server, args) {
  say(`Kubernetes cluster ${server} answers: running the operator against it (leader election on).`);
  const child = spawn(process.execPath, [cliPath, 'operator', ...args], { cwd: root, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 0 : 1)));
}

// ---------- 3. local mode ----------

const MARKER = '.smtp-relay-local';

/** A fresh work dir every run; refuses a dir that is not ours or that another npm start uses. */
function prepareWorkDir(dir) {
  if (fs.existsSync(dir)) {
    const entries = fs.readdirSync(dir);
    if (entries.length > 0 && !entries.includes(MARKER)) {
      throw new StartError(`${dir} is not empty and was not made by npm start: choose another SMTP_RELAY_LOCAL_DIR.`);
    }
    const pidFile = path.join(dir, 'start.pid');
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8')) : 0;
    if (pid && pid !== process.pid && isAlive(pid)) {
      throw new StartError(`another \`npm start\` (pid ${pid}) is running local mode in ${dir}: stop it first, or set SMTP_RELAY_LOCAL_DIR.`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, MARKER), 'work dir of `npm start` local mode; removed and recreated on every run\n');
  fs.writeFileSync(path.join(dir, 'start.pid'), String(process.pid));
}

/** Known failures say what to do; only a bug in this script deserves a stack trace. */
function describe(err) {
  if (err instanceof TypeError || err instanceof ReferenceError || err instanceof SyntaxError) return err.stack ?? err.message;
  return err instanceof Error ? err.message : String(err);
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const CONTROL_PLANE_BINARIES = ['etcd', 'kube-apiserver', 'cert-manager'];

/**
 * Builds the control plane from the pinned Go modules when needed (stamps decide).
 * Go is needed even when the binaries exist: cert-manager's CRDs are read from its module.
 */
function ensureControlPlane() {
  const binDir = path.join(root, '.cache', 'bin');
  const missing = CONTROL_PLANE_BINARIES.filter((b) => !fs.existsSync(path.join(binDir, b)));
  const go = spawnSync('go', ['version'], { encoding: 'utf8' });
  if (go.error || go.status !== 0) {
    throw new StartError(
      'local mode needs Go >= 1.26 and it is not installed (`go` not found on PATH). Go builds the test control plane ' +
        `(${missing.length > 0 ? `missing now: ${missing.map((b) => `.cache/bin/${b}`).join(', ')}` : 'etcd, kube-apiserver, cert-manager'}) ` +
        "and provides cert-manager's CRDs from its module. Install it (https://go.dev/doc/install) and run `npm start` again.",
    );
  }
  say(missing.length > 0 ? `building the control plane (${missing.join(', ')}) from Go modules; the first build takes minutes ...` : 'checking the control-plane binaries ...');
  const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'controlplane-build.mjs')], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new StartError('building the control plane failed (see above). Fix it and run `npm start` again.');
}

async function loadHarness() {
  const { tsImport } = await import('tsx/esm/api');
  const load = (p) => tsImport(path.join(root, p), import.meta.url);
  const [controlplane, processes, runtime, upstream] = await Promise.all([
    load('test/harness/controlplane.ts'),
    load('test/harness/process.ts'),
    load('test/harness/local-runtime.ts'),
    load('test/helpers/smtp/capture-upstream.ts'),
  ]);
  const kubeHttp = await load('test/harness/kube-http.ts');
  const sa = await load('test/harness/service-account.ts');
  return { ...controlplane, ...processes, ...runtime, ...upstream, ...kubeHttp, ...sa };
}

const NS = 'mail';
const RELAY = 'outbound';
const HOSTNAME = 'smtp.mail.local.test';
const SENDER_DOMAIN = 'mail.local.test';
const USER = 'dev';

async function applyObject(h, target, obj) {
  const group = obj.apiVersion.includes('/') ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const plural = { Namespace: 'namespaces', ServiceAccount: 'serviceaccounts', Secret: 'secrets', Certificate: 'certificates', SmtpRelay: 'smtprelays' }[obj.kind];
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  const p = `${group}${ns}/${plural}/${obj.metadata.name}?fieldManager=npm-start&force=true`;
  return h.kubeJson(target, 'PATCH', p, obj, 'application/apply-patch+yaml');
}

const secret = (name, data, type = 'Opaque') => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: NS },
  type,
  stringData: data,
});

/** A TLS upstream on 127.0.0.1 with a certificate from cert-manager's test CA. */
async function startUpstream(h, target) {
  await applyObject(h, target, {
    apiVersion: 'cert-manager.io/v1',
    kind: 'Certificate',
    metadata: { name: 'local-upstream', namespace: NS },
    spec: { secretName: 'local-upstream-tls', commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], issuerRef: { name: 'test-ca', kind: 'ClusterIssuer', group: 'cert-manager.io' } },
  });
  const deadline = Date.now() + 60_000;
  let tlsSecret;
  while (!tlsSecret) {
    const res = await h.kubeRequest(target, 'GET', `/api/v1/namespaces/${NS}/secrets/local-upstream-tls`);
    if (res.status === 200) {
      const s = JSON.parse(res.text);
      if (s.data?.['tls.crt'] && s.data?.['tls.key']) tlsSecret = s;
    }
    if (!tlsSecret && Date.now() > deadline) throw new StartError('cert-manager did not issue the local upstream certificate within 60 s');
    if (!tlsSecret) await sleep(250);
  }
  const dec = (k) => Buffer.from(tlsSecret.data[k], 'base64').toString('utf8');
  const password = randomBytes(12).toString('hex');
  const upstream = await h.startCaptureUpstream({ key: dec('tls.key'), cert: dec('tls.crt'), user: 'relay', pass: password });
  const caCert = tlsSecret.data['ca.crt'] ? dec('ca.crt') : undefined;
  if (!caCert) throw new StartError('the issued upstream certificate Secret has no ca.crt');
  return { upstream, password, caCert };
}

function conditionSummary(relay) {
  const conds = relay?.status?.conditions ?? [];
  if (conds.length === 0) return 'no conditions yet';
  return conds.map((c) => `${c.type}=${c.status}${c.status === 'True' && c.type !== 'Reconciling' && c.type !== 'Stalled' ? '' : ` (${c.reason})`}`).join('  ');
}

function kubectlGet(kubeconfig) {
  const r = spawnSync('kubectl', ['get', 'smtprelays', '-A', '-o', 'wide'], { env: { ...process.env, KUBECONFIG: kubeconfig }, encoding: 'utf8', timeout: 15_000 });
  if (r.error) return `(kubectl is not installed: ${r.error.message})`;
  return (r.stdout + r.stderr).trimEnd();
}

async function runLocal(passthrough) {
  const workDir = path.resolve(process.env.SMTP_RELAY_LOCAL_DIR || path.join(root, '.cache', 'local'));
  const cleanup = [];
  let ownsWorkDir = false;
  let stopping;
  const stopAll = (code) => {
    stopping ??= (async () => {
      if (cleanup.length > 0) say('\nstopping: relays, operator, upstream, control plane ...');
      for (const step of cleanup.reverse()) {
        try {
          await step();
        } catch (err) {
          warn(`  while stopping: ${err.message}`);
        }
      }
      if (ownsWorkDir) fs.rmSync(path.join(workDir, 'start.pid'), { force: true });
      if (cleanup.length > 0) say('stopped.');
      process.exit(code);
    })();
    return stopping;
  };
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      if (++signals > 1) {
        warn('second signal: exiting now (child processes are killed by their exit hooks)');
        process.exit(1);
      }
      void stopAll(0);
    });
  }

  try {
    if (passthrough.length > 0) say(`note: local mode ignores the extra arguments (${passthrough.join(' ')}); they are for the operator in cluster mode.`);
    prepareWorkDir(workDir);
    ownsWorkDir = true;
    ensureControlPlane();
    const h = await loadHarness();

    say(`starting a private control plane (etcd, kube-apiserver, cert-manager) in ${path.relative(root, workDir) || workDir} ...`);
    const cp = await h.startControlPlane({ certManager: true, workDir: path.join(workDir, 'controlplane') });
    // Logs stay for diagnosis; etcd's data (it holds the sample Secrets) does not.
    cleanup.push(() => fs.rmSync(path.join(workDir, 'controlplane', 'etcd'), { recursive: true, force: true }));
    cleanup.push(() => cp.stop());
    if (!cp.certManager) throw new StartError('cert-manager did not start (test/harness/cert-manager.ts is missing?); local mode needs its ClusterIssuer test-ca');
    say(`control plane ready at ${cp.server} in ${seconds(cp.timings.total)} (kubeconfig ${cp.kubeconfigPath})`);
    const kubeconfig = cp.kubeconfigPath;
    const target = await h.targetFromKubeconfig(kubeconfig);

    const operatorLog = path.join(workDir, 'operator.log');
    // --mail-auth-check=off: the sample's sender domains are not real, and local mode talks to
    // nothing beyond loopback (no lookups through the machine's resolver).
    const operatorArgs = ['operator', '--kubeconfig', kubeconfig, '--leader-elect=false', '--probe-local-endpoints', '--mail-auth-check=off', '--metrics-port', '0', '--health-port', '0', '--bind-address', '127.0.0.1'];
    const operator = h.ManagedProcess.start({ name: 'operator', command: process.execPath, args: [cliPath, ...operatorArgs], logPath: operatorLog });
    cleanup.push(() => operator.stop(10_000));
    say(`operator started (pid ${operator.pid}; log ${operatorLog})`);
    void operator.waitForExit().then(async (code) => {
      await sleep(300); // a terminal Ctrl-C reaches the operator too: let our own handler run first
      if (stopping) return;
      const log = fs.existsSync(operatorLog) ? fs.readFileSync(operatorLog, 'utf8') : '';
      if (/unknown option --probe-local-endpoints/.test(log)) {
        warn('\nthe operator exited: this build does not support --probe-local-endpoints yet, which local mode needs (the prober must reach the relays at their local addresses).');
      } else {
        warn(`\nthe operator exited (code ${code}). Last lines of ${operatorLog}:\n${operator.logTail(15)}`);
      }
      void stopAll(1);
    });

    say(`applying the sample: namespace ${NS}, Secrets, a local TLS upstream and SmtpRelay ${NS}/${RELAY} ...`);
    await applyObject(h, target, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await applyObject(h, target, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: NS } });
    const { upstream, password: upstreamPassword, caCert } = await startUpstream(h, target);
    cleanup.push(() => upstream.close());
    const userPassword = randomBytes(12).toString('hex');
    await applyObject(h, target, secret('relay-users', { [USER]: userPassword }));
    await applyObject(h, target, secret('upstream-credentials', { username: 'relay', password: upstreamPassword }));
    await applyObject(h, target, secret('upstream-ca', { 'ca.crt': caCert }));
    const sampleApplied = Date.now();
    await applyObject(h, target, {
      apiVersion: 'smtprelay.dev/v1alpha1',
      kind: 'SmtpRelay',
      metadata: { name: RELAY, namespace: NS },
      spec: {
        hostname: HOSTNAME,
        tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } },
        auth: { secretRef: { name: 'relay-users' } },
        upstream: { host: '127.0.0.1', port: upstream.port, tls: 'starttls', passwordSecretRef: { name: 'upstream-credentials' }, caSecretRef: { name: 'upstream-ca' } },
        policy: { allowedSenderDomains: [SENDER_DOMAIN] },
      },
    });
    say(`local upstream (captures messages, TLS from the test CA) on 127.0.0.1:${upstream.port}`);
    let reported = 0;
    const upstreamWatch = setInterval(() => {
      for (; reported < upstream.messages.length; reported++) {
        const m = upstream.messages[reported];
        say(`upstream received a message: from <${m.from}> to ${m.to.map((t) => `<${t}>`).join(', ')} (${m.raw.length} bytes, ${m.tlsProtocol || 'no TLS'})`);
      }
    }, 500);
    cleanup.push(() => clearInterval(upstreamWatch));

    const runtime = await h.startLocalRuntime({ kubeconfig, cliPath, nodeBin: process.execPath, workDir: path.join(workDir, 'runtime'), log: (line) => say(line) });
    // The runtime's volumes hold the materialised Secrets: removed once the relays are stopped.
    cleanup.push(() => fs.rmSync(path.join(workDir, 'runtime'), { recursive: true, force: true }));
    cleanup.push(() => runtime.stop());

    say(`waiting for SmtpRelay ${NS}/${RELAY} to be Ready with TLSHealthy ...`);
    let last = '';
    let nextHint = Date.now() + 60_000;
    while (!stopping) {
      const res = await h.kubeRequest(target, 'GET', `/apis/smtprelay.dev/v1alpha1/namespaces/${NS}/smtprelays/${RELAY}`).catch((err) => ({ status: 0, text: err.message }));
      const relay = res.status === 200 ? JSON.parse(res.text) : undefined;
      const summary = conditionSummary(relay);
      if (summary !== last) say(`  [${seconds(Date.now() - started)}] ${summary}`);
      last = summary;
      const cond = (type) => relay?.status?.conditions?.find((c) => c.type === type)?.status;
      if (cond('Ready') === 'True' && cond('TLSHealthy') === 'True') break;
      if (Date.now() > nextHint) {
        const pending = (relay?.status?.conditions ?? []).filter((c) => ['Ready', 'TLSHealthy'].includes(c.type) && c.status !== 'True');
        for (const c of pending) say(`  ${c.type}=${c.status} (${c.reason}): ${c.message}`);
        say(`  still waiting; the operator's log is ${operatorLog}, the relays' logs are under ${path.join(workDir, 'runtime')}`);
        nextHint = Date.now() + 60_000;
      }
      await sleep(1000);
    }
    if (stopping) return;
    const relayProc = runtime.relays().find((r) => r.namespace === NS && r.name === RELAY && r.replica === 0);
    say();
    say(`SmtpRelay ${NS}/${RELAY} is Ready with TLS healthy: ${seconds(Date.now() - started)} after npm start (${seconds(Date.now() - sampleApplied)} after it was applied).`);
    say();
    say(`$ KUBECONFIG=${kubeconfig} kubectl get smtprelays -A -o wide`);
    say(kubectlGet(kubeconfig));
    say();
    say('DEVELOPMENT-ONLY local mode: the relay runs as a local process, not in a cluster. Send a test message through it:');
    // The password of this throw-away local user is shown here once, and nowhere else.
    say(
      `  swaks --server 127.0.0.1:${relayProc?.ports.submission ?? '?'} -tls --auth-user ${USER} --auth-password ${userPassword} ` +
        `--from ${USER}@${SENDER_DOMAIN} --to someone@example.com`,
    );
    say(`  (implicit TLS: --server 127.0.0.1:${relayProc?.ports.submissions ?? '?'} --tls-on-connect; the certificate is from the test CA, swaks does not verify it by default)`);
    say();
    say('Stop with Ctrl-C.');
  } catch (err) {
    if (stopping) return; // already shutting down: errors from a stopped control plane are expected
    warn(`\nnpm start (local mode) failed: ${describe(err)}`);
    await stopAll(1);
  }
}

async function main() {
  checkNode();
  try {
    build();
    const found = await findCluster(process.argv.slice(2));
    if (found.cluster) return runOperatorAgainstCluster(found.server, process.argv.slice(2));
    say();
    say(`No Kubernetes cluster found (${found.why}).`);
    say('Starting the DEVELOPMENT-ONLY local mode: a private control plane on 127.0.0.1 and relays as local processes. Never use it for real mail.');
    say();
    await runLocal(process.argv.slice(2));
  } catch (err) {
    warn(`npm start failed: ${describe(err)}`);
    process.exit(1);
  }
}

void main();
