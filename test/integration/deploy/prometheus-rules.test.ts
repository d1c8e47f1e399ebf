// The alerting rules in deploy/components/monitoring, checked by Prometheus'
// own promtool (Debian package `prometheus`): the PromQL and templates parse,
// and the alerts fire, and stay quiet, on synthetic series of the metrics the
// operator exports. (The PrometheusRule CRD is not installed in the test control
// plane; test/unit/deploy/monitoring.test.ts checks the object's shape.)
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../../helpers/cli.js';

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}

const rule = YAML.parse(fs.readFileSync(path.join(repoRoot, 'deploy/components/monitoring/prometheusrule.yaml'), 'utf8')) as { spec: { groups: Group[] } };
let dir = '';

function promtool(args: string[]) {
  const r = spawnSync('promtool', args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`promtool is needed (apt-get install prometheus): ${r.error.message}`);
  return r;
}

/** Rules without annotations: promtool's unit tests compare annotations verbatim, and the templates are checked by `check rules`. */
function writeRules(file: string, groups: Group[]): void {
  const bare = groups.map((g) => ({ ...g, rules: g.rules.map(({ annotations: _a, ...r }) => r) }));
  fs.writeFileSync(path.join(dir, file), YAML.stringify({ groups: bare }));
}

const relay = (extra = '') => `namespace="mail",name="outbound"${extra}`;
const ep = (endpoint: string, pod = 'operator-a') => relay(`,endpoint="${endpoint}",pod="${pod}"`);
const DAY = 86_400;

// Each test: input series (one sample per minute) and expected alerts at given times.
const unitTests = {
  rule_files: ['rules.yaml'],
  evaluation_interval: '1m',
  tests: [
    {
      name: 'TLS probe failing for 10 minutes',
      interval: '1m',
      input_series: [
        // Both operator replicas export the series: one alert, not two.
        { series: `smtp_relay_probe_success{${ep('submission', 'operator-a')}}`, values: '0x30' },
        { series: `smtp_relay_probe_success{${ep('submission', 'operator-b')}}`, values: '0x30' },
        { series: `smtp_relay_probe_success{${ep('submissions')}}`, values: '1x30' },
      ],
      alert_rule_test: [
        { eval_time: '9m', alertname: 'SmtpRelayTLSUnhealthy', exp_alerts: [] },
        { eval_time: '12m', alertname: 'SmtpRelayTLSUnhealthy', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'mail', name: 'outbound', endpoint: 'submission' } }] },
      ],
    },
    {
      name: 'certificate expiry: 6 days warns, 1 day is critical, 30 days is quiet',
      interval: '1m',
      input_series: [
        { series: `smtp_relay_tls_cert_not_after_seconds{namespace="mail",name="six",endpoint="submission"}`, values: `${6 * DAY}x30` },
        { series: `smtp_relay_tls_cert_not_after_seconds{namespace="mail",name="one",endpoint="submission"}`, values: `${1 * DAY}x30` },
        { series: `smtp_relay_tls_cert_not_after_seconds{namespace="mail",name="thirty",endpoint="submission"}`, values: `${30 * DAY}x30` },
      ],
      alert_rule_test: [
        { eval_time: '10m', alertname: 'SmtpRelayCertificateExpiringSoon', exp_alerts: [] },
        {
          eval_time: '20m',
          alertname: 'SmtpRelayCertificateExpiringSoon',
          exp_alerts: [
            { exp_labels: { severity: 'warning', namespace: 'mail', name: 'one', endpoint: 'submission' } },
            { exp_labels: { severity: 'warning', namespace: 'mail', name: 'six', endpoint: 'submission' } },
          ],
        },
        { eval_time: '20m', alertname: 'SmtpRelayCertificateExpiringCritical', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'mail', name: 'one', endpoint: 'submission' } }] },
      ],
    },
    {
      name: 'stale certificate: fires after 15 minutes, not for a short reload delay',
      interval: '1m',
      input_series: [
        { series: `smtp_relay_tls_stale_certificate{${ep('submission')}}`, values: '1x30' },
        { series: `smtp_relay_tls_stale_certificate{${ep('submissions')}}`, values: '1x5 0x25' },
      ],
      alert_rule_test: [
        { eval_time: '10m', alertname: 'SmtpRelayStaleCertificateServed', exp_alerts: [] },
        { eval_time: '20m', alertname: 'SmtpRelayStaleCertificateServed', exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'mail', name: 'outbound', endpoint: 'submission' } }] },
      ],
    },
    {
      name: 'relay down: no available replica while some are desired; scaled to zero is quiet',
      interval: '1m',
      input_series: [
        { series: `smtp_relay_replicas_available{${relay()}}`, values: '0x20' },
        { series: `smtp_relay_replicas_desired{${relay()}}`, values: '2x20' },
        { series: `smtp_relay_replicas_available{namespace="mail",name="parked"}`, values: '0x20' },
        { series: `smtp_relay_replicas_desired{namespace="mail",name="parked"}`, values: '0x20' },
      ],
      alert_rule_test: [
        { eval_time: '4m', alertname: 'SmtpRelayDown', exp_alerts: [] },
        { eval_time: '10m', alertname: 'SmtpRelayDown', exp_alerts: [{ exp_labels: { severity: 'critical', namespace: 'mail', name: 'outbound' } }] },
      ],
    },
    {
      name: 'not Ready for 15 minutes',
      interval: '1m',
      input_series: [{ series: `smtp_relay_ready{${relay()}}`, values: '0x30' }],
      alert_rule_test: [
        { eval_time: '14m', alertname: 'SmtpRelayNotReady', exp_alerts: [] },
        { eval_time: '20m', alertname: 'SmtpRelayNotReady', exp_alerts: [{ exp_labels: { severity: 'warning', namespace: 'mail', name: 'outbound' } }] },
      ],
    },
    {
      name: 'operator not scraped',
      interval: '1m',
      input_series: [{ series: 'up{job="smtp-relay-operator-metrics",namespace="smtp-relay-system",pod="operator-a"}', values: '1x5 0x30' }],
      alert_rule_test: [
        { eval_time: '5m', alertname: 'SmtpRelayOperatorDown', exp_alerts: [] },
        { eval_time: '20m', alertname: 'SmtpRelayOperatorDown', exp_alerts: [{ exp_labels: { severity: 'critical' } }] },
      ],
    },
  ],
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prometheus-rules-'));
  fs.writeFileSync(path.join(dir, 'full-rules.yaml'), YAML.stringify({ groups: rule.spec.groups }));
  writeRules('rules.yaml', rule.spec.groups);
  fs.writeFileSync(path.join(dir, 'tests.yaml'), YAML.stringify(unitTests));
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('PrometheusRule (promtool)', () => {
  test('promtool check rules: every expression and annotation template parses', () => {
    const r = promtool(['check', 'rules', 'full-rules.yaml']);
    const count = rule.spec.groups.reduce((n, g) => n + g.rules.length, 0);
    expect({ code: r.status, out: r.stdout, err: r.stderr }).toEqual({ code: 0, out: expect.stringContaining(`SUCCESS: ${count} rules found`), err: '' });
  });

  test('promtool test rules: the alerts fire when they should and stay quiet otherwise', () => {
    const r = promtool(['test', 'rules', 'tests.yaml']);
    expect({ code: r.status, out: r.stdout + r.stderr }).toEqual({ code: 0, out: expect.stringContaining('SUCCESS') });
  });

  test('the same tests fail on a weakened rule (7-day expiry warning cut to 1 day)', () => {
    const weakened = structuredClone(rule.spec.groups);
    const expiring = weakened.flatMap((g) => g.rules).find((x) => x.alert === 'SmtpRelayCertificateExpiringSoon')!;
    expect(expiring.expr).toContain('7 * 24 * 3600');
    expiring.expr = expiring.expr.replace('7 * 24 * 3600', '1 * 24 * 3600');
    writeRules('rules.yaml', weakened);
    try {
      const r = promtool(['test', 'rules', 'tests.yaml']);
      expect(r.status).not.toBe(0);
      expect(r.stdout + r.stderr).toMatch(/SmtpRelayCertificateExpiringSoon/);
    } finally {
      writeRules('rules.yaml', rule.spec.groups);
    }
  });
});
