// An SMTP client that runs as a pod on the real node: the operator image itself (it has
// /nodejs/bin/node and nodemailer under /app/node_modules, and no shell), under the
// restricted Pod Security Standard. It sends one message to each target over STARTTLS,
// verifying the relay's certificate against the CA in a mounted ConfigMap, prints one
// `RESULT <json>` line and exits 0 only if every message was accepted.
import { kubectl, waitFor } from '../harness/kube.js';

export interface ClientTarget {
  host: string;
  port: number;
  /** TLS server name to verify (default: host). */
  servername?: string;
  /** Message-ID local part, to find the message at the upstream. */
  id: string;
}

export interface ClientResult {
  host: string;
  id: string;
  ok: boolean;
  response?: string;
  error?: string;
}

export interface ClientPodRun {
  phase: 'Succeeded' | 'Failed';
  results: ClientResult[];
  logs: string;
}

const IMAGE = 'docker.io/library/smtp-relay-operator:dev';

// CommonJS for `node -e`; require resolves from the working directory /app.
const SCRIPT = `
const fs = require('node:fs');
const nodemailer = require('nodemailer');
const ca = fs.readFileSync('/etc/sro-client-ca/ca.crt', 'utf8');
const targets = JSON.parse(process.env.TARGETS);
(async () => {
  const results = [];
  for (const t of targets) {
    const tr = nodemailer.createTransport({ host: t.host, port: t.port, requireTLS: true, tls: { ca, servername: t.servername || t.host }, connectionTimeout: 10000, greetingTimeout: 10000, socketTimeout: 20000 });
    const raw = 'From: <app@example.test>\\r\\nTo: <rcpt@dest.example>\\r\\nSubject: from a pod\\r\\nMessage-ID: <' + t.id + '@example.test>\\r\\n\\r\\nsent from a client pod\\r\\n';
    try {
      const info = await tr.sendMail({ envelope: { from: 'app@example.test', to: ['rcpt@dest.example'] }, raw });
      results.push({ host: t.host, id: t.id, ok: true, response: info.response });
    } catch (e) {
      results.push({ host: t.host, id: t.id, ok: false, error: String(e && e.message) });
    } finally {
      tr.close();
    }
  }
  console.log('RESULT ' + JSON.stringify(results));
  process.exit(results.every((r) => r.ok) ? 0 : 1);
})();
`;

/** Runs the client pod to completion (caConfigMap holds `ca.crt`) and returns what it reported. */
export async function runClientPod(ns: string, name: string, caConfigMap: string, targets: ClientTarget[]): Promise<ClientPodRun> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/name': 'smtp-test-client' } },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'client',
          image: IMAGE,
          imagePullPolicy: 'Never',
          workingDir: '/app',
          command: ['/nodejs/bin/node', '-e', SCRIPT],
          env: [{ name: 'TARGETS', value: JSON.stringify(targets) }],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: '10m', memory: '64Mi' }, limits: { memory: '256Mi' } },
          volumeMounts: [{ name: 'ca', mountPath: '/etc/sro-client-ca', readOnly: true }],
        },
      ],
      volumes: [{ name: 'ca', configMap: { name: caConfigMap } }],
    },
  };
  const applied = await kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  if (applied.code !== 0) throw new Error(`creating client pod ${ns}/${name}: ${applied.stderr.trim()}`);
  const phase = await waitFor(async () => {
    const r = await kubectl(['-n', ns, 'get', 'pod', name, '-o', 'jsonpath={.status.phase}']);
    return r.stdout === 'Succeeded' || r.stdout === 'Failed' ? (r.stdout as ClientPodRun['phase']) : undefined;
  }, { description: `client pod ${ns}/${name} to finish`, timeoutMs: 120_000, intervalMs: 1000 });
  const logs = (await kubectl(['-n', ns, 'logs', name])).stdout;
  const line = logs.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`client pod ${ns}/${name} ended ${phase} without a RESULT line: ${logs.slice(0, 2000)}`);
  return { phase, results: JSON.parse(line.slice('RESULT '.length)) as ClientResult[], logs };
}
