// `npm start` in local mode, end to end: scripts/start.mjs as a child process (forced
// into local mode with SMTP_RELAY_LOCAL=1 and its own work dir, so no real kubeconfig
// is ever read) must bring the sample SmtpRelay to Ready with TLS healthy, relay a real
// message to its local upstream, and on SIGINT stop everything it started and exit 0.
import { afterAll, expect, test } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubeJson } from '../harness/kube-http.js';
import { targetFromKubeconfig } from '../harness/service-account.js';
import { SIM_LOCAL_RUNTIME } from '../harness/simulated.js';
import { repoRoot } from '../helpers/cli.js';
import { sendWithNodemailer } from '../helpers/smtp/clients.js';

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'npm-start-e2e-'));
let child: ChildProcess | undefined;
let output = '';

/** Processes whose command line names the work dir: etcd, kube-apiserver, cert-manager, operator, relays. */
function processesUsing(dir: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(dir)) out.push({ pid: Number(entry), cmd: cmd.slice(0, 200) });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

function waitForOutput(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = output.match(re);
      if (m) {
        cleanup();
        resolve(m);
      }
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`npm start exited (code ${code}) before printing ${re}:\n${output}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`npm start did not print ${re} within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const interval = setInterval(check, 100);
    const cleanup = () => {
      clearTimeout(timer);
      clearInterval(interval);
      child?.off('exit', onExit);
    };
    child?.once('exit', onExit);
    check();
  });
}

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 15_000));
    child.kill('SIGKILL');
  }
  fs.rmSync(workDir, { recursive: true, force: true });
}, 30_000);

test(`npm start runs the local mode to a Ready relay and stops cleanly on Ctrl-C ${SIM_LOCAL_RUNTIME}`, async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, SMTP_RELAY_LOCAL: '1', SMTP_RELAY_LOCAL_DIR: workDir };
  delete env.KUBECONFIG; // local mode must not need (or touch) any kubeconfig
  const t0 = Date.now();
  child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'start.mjs')], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (output += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (output += c));
  const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));

  // The last line of the start-up text; everything checked below is printed before it.
  await waitForOutput(/^Stop with Ctrl-C\.$/m, 150_000);
  const [, kubeconfig] = await waitForOutput(/^\$ KUBECONFIG=(\S+) kubectl get smtprelays -A -o wide$/m, 1000);
  expect(output).toMatch(/No Kubernetes cluster found/);
  expect(output).toMatch(/DEVELOPMENT-ONLY local mode/);
  expect(output).toMatch(/Ready with TLS healthy: \d+\.\d s after npm start/);
  // kubectl's table, printed after the command line.
  expect(output).toMatch(/^mail\s+outbound\s/m);

  // The API agrees with what was printed.
  const target = await targetFromKubeconfig(kubeconfig!);
  const relay = await kubeJson<{ status?: { conditions?: { type: string; status: string }[] } }>(target, 'GET', '/apis/smtprelay.dev/v1alpha1/namespaces/mail/smtprelays/outbound');
  const cond = (type: string) => relay.status?.conditions?.find((c) => c.type === type)?.status;
  expect(cond('Ready')).toBe('True');
  expect(cond('TLSHealthy')).toBe('True');

  // The printed swaks line works: send through it with a verifying client.
  const [, port, user, password] = await waitForOutput(/swaks --server 127\.0\.0\.1:(\d+) -tls --auth-user (\S+) --auth-password (\S+) /, 1000);
  const caSecret = await kubeJson<{ data: Record<string, string> }>(target, 'GET', '/api/v1/namespaces/cert-manager/secrets/test-ca');
  const ca = Buffer.from(caSecret.data['tls.crt']!, 'base64').toString('utf8');
  const sent = await sendWithNodemailer({ port: Number(port), ca, servername: 'smtp.mail.local.test', user: user!, pass: password!, from: 'dev@mail.local.test', to: ['someone@example.com'], raw: 'From: <dev@mail.local.test>\r\nTo: <someone@example.com>\r\nSubject: start\r\n\r\nhello\r\n' }); // header From: in the allowed domain too (relay sender binding)
  expect(sent).toMatchObject({ ok: true });
  await waitForOutput(/upstream received a message: from <dev@mail\.local\.test> to <someone@example\.com>/, 10_000);

  // Everything it started is visible before the stop, so the check after it means something.
  const running = processesUsing(workDir).map((p) => p.cmd).join('\n');
  for (const what of [/etcd/, /kube-apiserver/, /cli\.js operator/, /cli\.js relay/]) expect(running).toMatch(what);

  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(output).toMatch(/^stopped\.$/m);
  // Children get SIGTERM and are waited for; allow a moment for /proc to settle.
  await new Promise((r) => setTimeout(r, 500));
  expect(processesUsing(workDir)).toEqual([]);
  process.stdout.write(`npm start local mode: Ready in ${(output.match(/Ready with TLS healthy: (\S+ s)/) ?? [])[1]}, whole test ${Date.now() - t0} ms\n`);
}, 180_000);
