// The deep scan: several constrained handshakes that show what the server
// accepts beyond what a default client negotiates: legacy protocols, weak
// cipher classes, key-exchange groups, renegotiation and STARTTLS injection.
import { certificateInfo, checkKeyAndSignature } from './certificates.js';
import { HandshakeError, STEP_CAP_MS, shortSslMessage, closeSession, negotiated, openSession, type OpenSession, type TlsClientSettings } from './connection.js';
import { Deadline } from './deadline.js';
import { ProbeError, excerpt } from './errors.js';
import { DEFAULT_TIMEOUT_MS, endpointFrom, peerChain } from './fast-probe.js';
import { verdictOf } from './outcome.js';
import type { CheckResult, DeepScanResult, HandshakeAttempt, ProbeOptions } from './types.js';

/** Lets the client offer what the server must refuse, so a refusal is the server's and not our OpenSSL's. */
const ANYTHING_GOES = 'DEFAULT@SECLEVEL=0';

export const WEAK_CIPHER_CLASSES: Record<string, string> = {
  'static-rsa': 'kRSA@SECLEVEL=0',
  'cbc-sha1': 'ECDHE+SHA1:DHE+SHA1@SECLEVEL=0',
  ccm8: 'AESCCM8@SECLEVEL=0',
};
export const GROUPS_TRIED = ['X25519MLKEM768', 'X25519', 'P-256'] as const;
/** Every check a deep scan reports; the fast probe reports none of them (test/e2e/probe/corpus.test.ts). */
export const DEEP_SCAN_CHECKS: ReadonlySet<string> = new Set(['modern-protocols', 'legacy-protocols', 'weak-ciphers', 'key-exchange-groups', 'renegotiation', 'starttls-injection', 'certificate-key', 'certificate-signature', 'ocsp-stapling']);

type Settings = TlsClientSettings;

export async function deepScan(opts: ProbeOptions): Promise<DeepScanResult> {
  const startedAt = (opts.now?.() ?? new Date()).toISOString();
  const t0 = performance.now();
  const ep = endpointFrom(opts);
  const perAttemptMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const overall = new Deadline(perAttemptMs * 6);
  let handshakes = 0;
  const checks: CheckResult[] = [];

  /** One handshake with narrowed settings; `use` runs on the open session. */
  async function attempt<T>(settings: Settings, use?: (s: OpenSession, d: Deadline) => Promise<T>, inject?: string): Promise<{ attempt: HandshakeAttempt; value?: T }> {
    const deadline = new Deadline(Math.max(1, Math.min(perAttemptMs, overall.remaining())));
    let session: OpenSession | undefined;
    try {
      session = await openSession(ep, settings, deadline, { injectAfterStarttls: inject });
      handshakes++;
      const n = negotiated(session.socket);
      const value = use ? await use(session, deadline) : undefined;
      return { attempt: { outcome: 'accepted', detail: `${n.protocol} ${n.cipher}${n.group ? ` ${n.group}` : ''}`, protocol: n.protocol, cipher: n.cipher, group: n.group }, value };
    } catch (err) {
      if (err instanceof HandshakeError) {
        if (err.side !== 'local') handshakes++;
        return { attempt: { outcome: err.side === 'server' ? 'refused' : err.side === 'local' ? 'local' : 'error', detail: err.message } };
      }
      if (err instanceof ProbeError) {
        if (err.check === 'handshake') handshakes++;
        return { attempt: { outcome: 'error', detail: `${err.reason}: ${err.message}` } };
      }
      throw err;
    } finally {
      if (session) await closeSession(session).catch(() => undefined);
    }
  }

  // Baseline first: TLS 1.3 and 1.2. The 1.2 one also fetches the certificate and any stapled OCSP response.
  const tls13 = await attempt({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', requestOCSP: true }, async (s) => ({ chain: peerChain(s.socket), ocsp: s.ocspResponse }));
  const tls12 = await attempt({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', requestOCSP: true }, async (s) => ({ chain: peerChain(s.socket), ocsp: s.ocspResponse }));
  const baseline = tls13.value ?? tls12.value;
  if (!baseline) {
    // Nothing modern works: if that is not a TLS refusal (down, silent, no STARTTLS), say that and stop.
    const notTried: HandshakeAttempt = { outcome: 'error', detail: 'not tried: no modern handshake succeeded' };
    const detail = `TLS 1.3: ${tls13.attempt.detail}; TLS 1.2: ${tls12.attempt.detail}`;
    checks.push({ check: 'modern-protocols', result: 'fail', reason: tls13.attempt.outcome === 'error' ? reasonIn(tls13.attempt.detail) : 'modern-protocol-missing', message: detail });
    return finish({ protocols: { TLSv1: notTried, 'TLSv1.1': notTried, 'TLSv1.2': tls12.attempt, 'TLSv1.3': tls13.attempt }, cipherClasses: {}, groups: {} });
  }
  const protocols: DeepScanResult['protocols'] = {
    TLSv1: (await attempt({ minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: ANYTHING_GOES })).attempt,
    'TLSv1.1': (await attempt({ minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: ANYTHING_GOES })).attempt,
    'TLSv1.2': tls12.attempt,
    'TLSv1.3': tls13.attempt,
  };

  const cipherClasses: Record<string, HandshakeAttempt> = {};
  for (const [name, ciphers] of Object.entries(WEAK_CIPHER_CLASSES)) {
    cipherClasses[name] = (await attempt({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers })).attempt;
  }
  const groups: Record<string, HandshakeAttempt> = {};
  for (const group of GROUPS_TRIED) groups[group] = (await attempt({ ecdhCurve: group })).attempt;

  const renegotiation = tls12.attempt.outcome === 'accepted' ? (await attempt({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, tryRenegotiate)).value : undefined;
  const injection = ep.mode === 'starttls' ? (await attempt({}, detectInjection, 'NOOP\r\n')).value : undefined;

  checks.push(...protocolChecks(protocols), ...cipherChecks(cipherClasses), groupCheck(groups));
  checks.push(
    !renegotiation
      ? { check: 'renegotiation', result: 'pass', message: 'not applicable: no TLS 1.2 (TLS 1.3 has no renegotiation)' }
      : renegotiation.clientInitiated === 'allowed'
        ? { check: 'renegotiation', result: 'fail', reason: 'client-renegotiation-allowed', message: renegotiation.detail }
        : { check: 'renegotiation', result: 'pass', message: `secure renegotiation supported; client-initiated renegotiation ${renegotiation.clientInitiated} (${renegotiation.detail})` },
  );
  if (injection) {
    checks.push(
      injection.vulnerable
        ? { check: 'starttls-injection', result: 'fail', reason: 'starttls-injection', message: injection.detail }
        : { check: 'starttls-injection', result: 'pass', message: injection.detail },
    );
  }
  checks.push(...checkKeyAndSignature(baseline.chain));
  const ocspStapled = Boolean(baseline.ocsp && baseline.ocsp.length > 0);
  checks.push({ check: 'ocsp-stapling', result: 'pass', message: ocspStapled ? 'OCSP response stapled' : 'no OCSP response stapled (informational)' });
  return finish({ protocols, cipherClasses, groups, renegotiation, injection, ocspStapled, certificate: baseline.chain[0] ? certificateInfo(baseline.chain[0]) : undefined });

  function finish(parts: Pick<DeepScanResult, 'protocols' | 'cipherClasses' | 'groups'> & Partial<DeepScanResult>): DeepScanResult {
    return {
      target: { host: opts.host, port: opts.port, mode: opts.mode, servername: opts.servername },
      startedAt,
      durationMs: Math.round(performance.now() - t0),
      handshakes,
      ...parts,
      checks,
      verdict: verdictOf(checks),
    };
  }
}

function reasonIn(detail: string): CheckResult['reason'] {
  const m = /^([a-z-]+):/.exec(detail);
  const known = ['timeout', 'protocol-error', 'connection-refused', 'dns-failure', 'starttls-not-supported', 'plaintext-on-implicit-port'] as const;
  return known.find((k) => k === m?.[1]) ?? 'tls-handshake-failed';
}

export function protocolChecks(p: DeepScanResult['protocols']): CheckResult[] {
  const legacy = (['TLSv1', 'TLSv1.1'] as const).filter((v) => p[v].outcome === 'accepted');
  const untested = (['TLSv1', 'TLSv1.1'] as const).filter((v) => p[v].outcome === 'local' || p[v].outcome === 'error');
  const results: CheckResult[] = [
    legacy.length > 0
      ? { check: 'legacy-protocols', result: 'fail', reason: 'legacy-protocol-accepted', message: `accepted: ${legacy.map((v) => `${v} (${p[v].detail})`).join(', ')}` }
      : untested.length > 0
        ? { check: 'legacy-protocols', result: 'warn', reason: 'tls-handshake-failed', message: `could not tell: ${untested.map((v) => `${v}: ${p[v].detail}`).join('; ')}` }
        : { check: 'legacy-protocols', result: 'pass', message: 'TLS 1.0 and TLS 1.1 refused' },
  ];
  const has12 = p['TLSv1.2'].outcome === 'accepted';
  const has13 = p['TLSv1.3'].outcome === 'accepted';
  if (!has12 && !has13) results.push({ check: 'modern-protocols', result: 'fail', reason: 'modern-protocol-missing', message: 'neither TLS 1.2 nor TLS 1.3 negotiated' });
  else if (!has13) results.push({ check: 'modern-protocols', result: 'warn', reason: 'modern-protocol-missing', message: 'TLS 1.3 not supported (TLS 1.2 only)' });
  else results.push({ check: 'modern-protocols', result: 'pass', message: has12 ? 'TLS 1.2 and TLS 1.3 supported' : 'TLS 1.3 only (clients without TLS 1.3 cannot connect)' });
  return results;
}

export function cipherChecks(classes: Record<string, HandshakeAttempt>): CheckResult[] {
  const accepted = Object.entries(classes).filter(([, a]) => a.outcome === 'accepted');
  if (accepted.length > 0) {
    return [{ check: 'weak-ciphers', result: 'fail', reason: 'weak-cipher-accepted', message: `accepted: ${accepted.map(([n, a]) => `${n} (${a.cipher})`).join(', ')}` }];
  }
  const tested = Object.entries(classes).filter(([, a]) => a.outcome === 'refused').map(([n]) => n);
  return [{ check: 'weak-ciphers', result: 'pass', message: `refused: ${tested.join(', ') || 'none tested'}` }];
}

export function groupCheck(groups: Record<string, HandshakeAttempt>): CheckResult {
  const ok = Object.entries(groups).filter(([, a]) => a.outcome === 'accepted').map(([g]) => g);
  if (ok.length === 0) return { check: 'key-exchange-groups', result: 'warn', reason: 'weak-key-exchange-group', message: `none of ${Object.keys(groups).join(', ')} accepted` };
  const pq = ok.some((g) => /MLKEM/.test(g));
  return { check: 'key-exchange-groups', result: 'pass', message: `supported: ${ok.join(', ')}${pq ? ' (post-quantum hybrid available)' : ''}` };
}

/** Client-initiated renegotiation on TLS 1.2, then a NOOP to drive it: an answer means the server went along. */
async function tryRenegotiate(session: OpenSession, deadline: Deadline): Promise<NonNullable<DeepScanResult['renegotiation']>> {
  // A completed TLS 1.2 handshake means secure renegotiation (RFC 5746) is supported: OpenSSL 3 refuses legacy servers.
  const timeout = deadline.step(STEP_CAP_MS);
  const result = await new Promise<{ clientInitiated: 'refused' | 'allowed' | 'unknown'; detail: string }>((resolve) => {
    const timer = setTimeout(() => resolve({ clientInitiated: 'refused', detail: `no renegotiation within ${timeout} ms` }), timeout);
    const done = (r: { clientInitiated: 'refused' | 'allowed' | 'unknown'; detail: string }) => {
      clearTimeout(timer);
      resolve(r);
    };
    session.socket.once('error', (err: Error) => done({ clientInitiated: 'refused', detail: `server ended the session: ${shortSslMessage(err.message)}` }));
    session.socket.once('close', () => done({ clientInitiated: 'refused', detail: 'server closed the connection' }));
    let started: boolean;
    try {
      started = session.socket.renegotiate({ rejectUnauthorized: false }, (err) => {
        if (err) done({ clientInitiated: 'refused', detail: `refused: ${shortSslMessage(err.message)}` });
        else done({ clientInitiated: 'allowed', detail: 'the server completed a client-initiated renegotiation' });
      }) !== false;
    } catch (err) {
      started = false;
      done({ clientInitiated: 'unknown', detail: `could not start a renegotiation: ${(err as Error).message}` });
    }
    if (!started) done({ clientInitiated: 'unknown', detail: 'our TLS library would not start a renegotiation' });
    session.channel.write('NOOP\r\n');
  });
  return { secureRenegotiation: true, ...result };
}

/**
 * `STARTTLS\r\nNOOP\r\n` went out in one write. After the handshake we send QUIT:
 * a safe server's first answer is QUIT's 221; a vulnerable one first answers the smuggled NOOP.
 */
async function detectInjection(session: OpenSession, deadline: Deadline): Promise<{ vulnerable: boolean; detail: string }> {
  if (session.leftoverPlaintext) {
    return { vulnerable: false, detail: `server answered the pipelined command in plaintext before the handshake ("${excerpt(session.leftoverPlaintext)}")` };
  }
  session.channel.write('QUIT\r\n');
  try {
    const first = await session.channel.readReply(deadline.step(STEP_CAP_MS), 'starttls-injection');
    if (first.code === 221) return { vulnerable: false, detail: 'command pipelined behind STARTTLS was discarded' };
    return { vulnerable: true, detail: `the command pipelined behind STARTTLS was answered inside TLS: ${first.code} ${excerpt(first.lines.join(' '), 60)}` };
  } catch (err) {
    if (err instanceof ProbeError) return { vulnerable: false, detail: `no answer after the handshake (${err.message}); the pipelined command was not executed` };
    throw err;
  }
}
