// Human-readable report of a probe (and deep scan). Pure: results in, text out.
import { REASONS } from './reasons.js';
import type { CheckResult, DeepScanResult, HandshakeAttempt, ProbeResult, Verdict } from './types.js';

const LABEL: Record<CheckResult['result'], string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };
const VERDICT: Record<Verdict, string> = { healthy: 'HEALTHY', warning: 'WARNING', failing: 'FAILING' };

export function renderReport(probe: ProbeResult, deep: DeepScanResult | undefined, verdict: Verdict): string {
  const t = probe.target;
  const out: string[] = [];
  out.push(`SMTP TLS probe of ${formatHostPort(t.host, t.port)} (${t.mode}${t.servername ? `, name ${t.servername}` : ''})`);
  const handshakes = probe.handshakes + (deep?.handshakes ?? 0);
  const cost = `${handshakes} handshake${handshakes === 1 ? '' : 's'}, ${probe.latencyMs + (deep?.durationMs ?? 0)} ms`;
  out.push(`Verdict: ${VERDICT[verdict]} (${cost})`);
  if (probe.smtp.banner !== undefined || probe.tls) out.push('');
  if (probe.smtp.banner !== undefined) out.push(field('Banner', probe.smtp.banner));
  const tls = probe.tls;
  if (tls) {
    out.push(field('TLS', [tls.protocol, tls.cipher, tls.group ? `group ${tls.group}${tls.pq ? ' (post-quantum hybrid)' : ''}` : undefined].filter(Boolean).join('  ')));
    tls.chain.forEach((c, i) => {
      out.push(field(i === 0 ? 'Certificate' : `  chain[${i}]`, `${c.subject}  (issuer ${c.issuer})`));
      if (i === 0) {
        if (c.subjectAltName) out.push(field('', `names ${c.subjectAltName}`));
        out.push(field('', `valid ${c.notBefore} .. ${c.notAfter}`));
        out.push(field('', `sha256 ${c.fingerprint}`));
        out.push(field('', `key ${c.keyType ?? '?'} ${c.keyBits ?? '?'} bits, signed ${c.signatureAlgorithm ?? '?'}`));
      }
    });
  }
  out.push('', 'Checks');
  out.push(...probe.checks.map(renderCheck));
  if (deep) {
    out.push('', `Deep scan (${deep.handshakes} handshakes, ${deep.durationMs} ms)`);
    out.push(field('Protocols', attempts(deep.protocols)));
    if (Object.keys(deep.cipherClasses).length > 0) out.push(field('Weak suites', attempts(deep.cipherClasses)));
    if (Object.keys(deep.groups).length > 0) out.push(field('Groups', attempts(deep.groups)));
    out.push(...deep.checks.map(renderCheck));
  }
  const problems = [...probe.checks, ...(deep?.checks ?? [])].filter((c) => c.result !== 'pass');
  if (problems.length > 0) {
    out.push('', 'What to fix');
    const seen = new Set<string>();
    for (const c of problems) {
      if (!c.reason || seen.has(c.reason)) continue;
      seen.add(c.reason);
      out.push(`  - ${c.reason}: ${REASONS[c.reason].sentence}`);
    }
  }
  return `${out.join('\n')}\n`;
}

export function renderCheck(c: CheckResult): string {
  const reason = c.reason ? `[${c.reason}] ` : '';
  return `  ${LABEL[c.result]}  ${c.check.padEnd(24)} ${reason}${c.message}`;
}

function attempts(map: Record<string, HandshakeAttempt>): string {
  return Object.entries(map)
    .map(([name, a]) => `${name} ${a.outcome === 'accepted' ? 'accepted' : a.outcome === 'refused' ? 'refused' : a.outcome === 'local' ? 'not testable here' : 'error'}`)
    .join(', ');
}

function field(name: string, value: string): string {
  return `${name.padEnd(12)} ${value}`;
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
