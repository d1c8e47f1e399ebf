// The Prometheus Operator CRDs are not installed in the test control plane, so
// the ServiceMonitor and PrometheusRule are checked here by shape (the
// integration tests render the component with kustomize, and run the alerts
// through promtool in prometheus-rules.test.ts). What matters: the
// ServiceMonitor really selects the operator's metrics Service, every alert is
// complete, and the alerts use only the metric names the operator exports.
import { describe, expect, test } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { repoRoot } from '../../helpers/cli.js';

const read = (rel: string) => YAML.parse(fs.readFileSync(path.join(repoRoot, rel), 'utf8'));

/** The metrics the alerts rely on; the operator must export them with these labels. */
export const RELIED_ON_METRICS: Record<string, string[]> = {
  smtp_relay_tls_cert_not_after_seconds: ['namespace', 'name', 'endpoint'],
  smtp_relay_probe_success: ['namespace', 'name', 'endpoint'],
  smtp_relay_tls_stale_certificate: ['namespace', 'name', 'endpoint'],
  smtp_relay_replicas_available: ['namespace', 'name'],
  smtp_relay_replicas_desired: ['namespace', 'name'],
  smtp_relay_ready: ['namespace', 'name'],
};

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rule = read('deploy/components/monitoring/prometheusrule.yaml');
const rules: Rule[] = rule.spec.groups.flatMap((g: { rules: Rule[] }) => g.rules);
const byName = (name: string) => rules.find((r) => r.alert === name)!;

describe('ServiceMonitor', () => {
  const sm = read('deploy/components/monitoring/servicemonitor.yaml');
  const svc = read('deploy/base/service.yaml');
  test('selects the metrics Service by its labels and named port, in the operator namespace', () => {
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.kind).toBe('ServiceMonitor');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) expect(svc.metadata.labels[k]).toBe(v);
    expect(sm.spec.namespaceSelector.matchNames).toEqual([svc.metadata.namespace]);
    const portNames = svc.spec.ports.map((p: { name: string }) => p.name);
    for (const ep of sm.spec.endpoints) expect(portNames).toContain(ep.port);
  });
  test('keeps the per-relay namespace label (honorLabels)', () => {
    expect(sm.spec.endpoints[0].honorLabels).toBe(true);
  });
});

describe('PrometheusRule', () => {
  test('has the Prometheus Operator shape', () => {
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.kind).toBe('PrometheusRule');
    expect(rule.spec.groups.length).toBeGreaterThan(0);
    for (const g of rule.spec.groups) expect(typeof g.name).toBe('string');
  });

  test.each(rules.map((r) => [r.alert, r] as const))('%s is complete: expr, for, severity, summary, description', (_n, r) => {
    expect(r.alert).toMatch(/^[A-Z][A-Za-z]+$/);
    expect(r.expr.trim().length).toBeGreaterThan(0);
    expect(r.for).toMatch(/^\d+[smh]$/);
    expect(['warning', 'critical']).toContain(r.labels?.severity);
    expect(r.annotations?.summary).toBeTruthy();
    expect(r.annotations?.description).toBeTruthy();
    // Balanced parentheses and braces: a cheap guard against a broken PromQL edit.
    const pairs: [string, string][] = [['(', ')'], ['{', '}'], ['[', ']']];
    for (const [open, close] of pairs) {
      expect(r.expr.split(open).length).toBe(r.expr.split(close).length);
    }
  });

  test('every smtp_relay_* metric used is one the operator is asked to export', () => {
    const used = new Set(rules.flatMap((r) => r.expr.match(/smtp_relay_[a-z_]+/g) ?? []));
    expect([...used].sort()).toEqual(Object.keys(RELIED_ON_METRICS).sort());
    // Grouping labels exist on the metric.
    for (const r of rules) {
      for (const m of r.expr.matchAll(/by \(([^)]*)\) \((smtp_relay_[a-z_]+)\)/g)) {
        const labels = m[1]!.split(',').map((s) => s.trim());
        for (const l of labels) expect(RELIED_ON_METRICS[m[2]!]).toContain(l);
      }
    }
  });

  test('the required alerts say what the issue asks for', () => {
    expect(byName('SmtpRelayCertificateExpiringSoon').expr).toMatch(/smtp_relay_tls_cert_not_after_seconds\) - time\(\) < 7 \* 24 \* 3600/);
    expect(byName('SmtpRelayTLSUnhealthy').expr).toMatch(/\(smtp_relay_probe_success\) == 0/);
    expect(byName('SmtpRelayTLSUnhealthy').for).toBe('10m');
    expect(byName('SmtpRelayStaleCertificateServed').expr).toMatch(/\(smtp_relay_tls_stale_certificate\) == 1/);
    expect(byName('SmtpRelayDown').expr).toMatch(/smtp_relay_replicas_available\) == 0/);
  });

  test('the component lists both objects', () => {
    const k = read('deploy/components/monitoring/kustomization.yaml');
    expect(k.kind).toBe('Component');
    expect(k.resources.sort()).toEqual(['prometheusrule.yaml', 'servicemonitor.yaml']);
  });
});
