// The fast path: one connection per endpoint yields the mode check, the
// certificate verdicts (expiry, trust, hostname, fingerprint), the AUTH
// policy around STARTTLS, the negotiated protocol, cipher and group, and whether
// the endpoint relays for an outside sender without AUTH (never sending DATA).
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { checkExpiry, checkFingerprint, checkHostname, checkTrust, certificateInfo, datesOf, evaluateTrust, DAY_MS, parsePemCertificates, systemTrustAnchors } from './certificates.js';
import { GreetingRefusedError, HandshakeError, STEP_CAP_MS, closeSession, command, greet, negotiated, openSession, tcpConnect, type Endpoint } from './connection.js';
import { Deadline } from './deadline.js';
import { ProbeError, excerpt } from './errors.js';
import { verdictOf } from './outcome.js';
import { checkOpenRelay, relayRefusedAtGreeting } from './relay-check.js';
import type { VerifiedCertificate } from './session-cache.js';
import { hasExtension, type SmtpChannel } from './smtp-channel.js';
import type { CheckResult, ProbeOptions, ProbeResult, TlsFacts } from './types.js';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_EXPIRY_WARNING_MS = 14 * DAY_MS;
/** Obviously fake credentials: AUTH before TLS must be refused before they are even looked at. */
const DUMMY_AUTH_PLAIN = Buffer.from('\0tls-probe\0not-a-real-password').toString('base64');
/** OpenSSL verdicts about dates only; dates are judged by checkExpiry. */
const TIME_ONLY_ERRORS = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD']);

export function endpointFrom(opts: ProbeOptions): Endpoint {
  const name = opts.servername ?? opts.host;
  return { host: opts.host, port: opts.port, mode: opts.mode, sni: net.isIP(name) ? undefined : name, ehloName: opts.ehloName ?? 'tls-probe.invalid' };
}

export function expectedName(opts: ProbeOptions): string {
  return opts.servername ?? opts.host;
}

export async function probeEndpoint(opts: ProbeOptions): Promise<ProbeResult> {
  const startedAt = (opts.now?.() ?? new Date()).toISOString();
  const t0 = performance.now();
  const deadline = new Deadline(opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const ep = endpointFrom(opts);
  const checks: CheckResult[] = [];
  const smtp: ProbeResult['smtp'] = {};
  let tlsFacts: TlsFacts | undefined;
  let handshakes = 0;
  let resumedFrom: VerifiedCertificate | undefined;
  // Open until closed below; any throw before that must not leak the connection (a relay counts it against our address).
  let open: { socket: tls.TLSSocket } | undefined;
  try {
    const trust0 = trustStore(opts.caPem);
    const { sessions } = opts;
    const sessionKey = `${ep.host}|${ep.port}|${ep.mode}|${ep.sni ?? ''}`;
    // What the certificate is judged against: a change makes the next handshake a full one.
    const against = `${opts.expectedFingerprint ?? ''}|${trust0.id}`;
    const warningMs = opts.expiryWarningMs ?? DEFAULT_EXPIRY_WARNING_MS;
    const before = opts.now?.() ?? new Date();
    const cached = sessions?.lookup(sessionKey, against, before.getTime());
    // Only verdicts without a failure are repeated: a failing certificate gets a full handshake every time, so its fix shows at once.
    const reuse = cached && certificateChecks(cached.certificate, before, warningMs).every((c) => c.result !== 'fail') ? cached : undefined;
    const settings = { secureContext: trust0.context, ...(reuse ? { session: reuse.session } : {}), ...(sessions ? { onSession: (s: Buffer) => sessions.session(sessionKey, s) } : {}) };
    const session = await openSession(ep, settings, deadline, {
      beforeStarttls: async (channel, extensions) => {
        checks.push(await checkAuthBeforeTls(channel, extensions, deadline));
      },
    });
    open = session;
    handshakes = 1;
    smtp.banner = session.banner;
    smtp.extensionsBeforeTls = session.extensionsBeforeTls;
    checks.unshift({ check: 'tls-mode', result: 'pass', message: ep.mode === 'starttls' ? 'STARTTLS offered and accepted' : 'TLS handshake on connect' });

    const now = opts.now?.() ?? new Date();
    // A resumed session shows no certificate: its verdicts are the last full handshake's (session-cache.ts).
    resumedFrom = reuse && session.socket.isSessionReused() ? reuse.certificate : undefined;
    const cert = resumedFrom ?? verifyCertificate(session.socket, opts, trust0.anchors, now.getTime());
    if (!resumedFrom) sessions?.verified(sessionKey, against, cert);
    const facts = negotiated(session.socket);
    tlsFacts = {
      protocol: facts.protocol,
      cipher: facts.cipher,
      group: facts.group,
      pq: facts.pq,
      chain: cert.chain,
      chainVerified: cert.trust.result === 'pass',
      hostnameVerified: cert.hostname.result === 'pass',
      authorizationError: cert.authorizationError,
    };
    checks.push(...certificateChecks(cert, now, warningMs));
    checks.push(
      facts.forwardSecret
        ? { check: 'forward-secrecy', result: 'pass', message: `${facts.protocol} ${facts.cipher} via ${facts.group ?? 'ephemeral key'}${facts.pq ? ' (post-quantum hybrid)' : ''}` }
        : { check: 'forward-secrecy', result: 'fail', reason: 'no-forward-secrecy', message: `${facts.protocol} ${facts.cipher} uses static RSA key exchange` },
    );
    try {
      smtp.extensionsAfterTls = await afterTlsExtensions(session.channel, ep, deadline, smtp);
      checks.push(...checkAfterTls(smtp.extensionsAfterTls, opts.unauthenticatedListener === true));
      checks.push(await checkOpenRelay(session.channel, deadline));
    } finally {
      open = undefined;
      await closeSession(session);
    }
  } catch (err) {
    open?.socket.destroy();
    if (!(err instanceof ProbeError)) {
      // The operator's probe loop needs a result, not an exception: report it as a failed probe.
      checks.push({ check: 'probe', result: 'fail', reason: 'protocol-error', message: `unexpected error: ${err instanceof Error ? err.message : String(err)}` });
      return finish();
    }
    if (err instanceof GreetingRefusedError) {
      // Refused for this client address (a relay listener's allowedNetworks): nothing after the greeting can be checked from here.
      checks.push({ check: err.check, result: 'warn', reason: err.reason, message: err.message }, relayRefusedAtGreeting(err.reply));
      return finish();
    }
    if (err.check === 'handshake') handshakes = 1; // attempted, even though it failed
    if (err instanceof HandshakeError && ep.mode === 'implicit' && err.side !== 'local') {
      const plaintext = await plaintextGreeting(ep, deadline);
      if (plaintext) {
        checks.push({ check: 'tls-mode', result: 'fail', reason: 'plaintext-on-implicit-port', message: `the port answered "${excerpt(plaintext)}" in plaintext` });
        return finish();
      }
    }
    checks.push({ check: err.check, result: 'fail', reason: err.reason, message: err.message });
  }
  return finish();

  function finish(): ProbeResult {
    return {
      target: { host: opts.host, port: opts.port, mode: opts.mode, servername: opts.servername },
      startedAt,
      latencyMs: Math.round(performance.now() - t0),
      handshakes,
      smtp,
      tls: tlsFacts,
      checks,
      verdict: verdictOf(checks),
      ...(resumedFrom ? { resumed: true, certificateVerifiedAt: new Date(resumedFrom.at).toISOString() } : {}),
    };
  }
}

/** Expiry (judged now), trust, hostname and fingerprint. */
function certificateChecks(cert: VerifiedCertificate, now: Date, warningMs: number): CheckResult[] {
  return [checkExpiry(cert.dates, now, warningMs), cert.trust, cert.hostname, ...(cert.fingerprint ? [cert.fingerprint] : [])];
}

/** The certificate verdicts of a full handshake: chain, trust (our walk and OpenSSL's), hostname, fingerprint. */
function verifyCertificate(socket: tls.TLSSocket, opts: ProbeOptions, anchors: X509Certificate[], at: number): VerifiedCertificate {
  const served = peerChain(socket);
  const nodeError = socket.authorizationError ? String(socket.authorizationError) : undefined;
  return {
    dates: datesOf(served),
    chain: served.map(certificateInfo),
    trust: checkTrust(reconcileTrust(evaluateTrust(served, anchors), nodeError)),
    hostname: checkHostname(expectedName(opts), served[0]),
    fingerprint: checkFingerprint(served[0], opts.expectedFingerprint),
    authorizationError: nodeError,
    at,
  };
}

interface TrustStore {
  /** Distinguishes CA sets in the session cache's "judged against". */
  id: number;
  context: tls.SecureContext;
  /** System roots plus the user's CAs, parsed: the chain walk's anchors (indexed once per list by evaluateTrust). */
  anchors: X509Certificate[];
}

const trustStores = new Map<string, TrustStore>();
let trustStoreIds = 0;

/**
 * System roots plus the user's CAs as one client context and one anchor list, built once per CA set:
 * parsing ~150 roots costs more than the handshake itself (Node replaces its defaults when `ca` is set).
 */
function trustStore(extra: string[] = []): TrustStore {
  // Always our own context, even without --ca: OpenSSL's verdict must use the same anchors as the chain walk.
  const key = extra.join('\n');
  let store = trustStores.get(key);
  if (!store) {
    store = {
      id: ++trustStoreIds,
      context: tls.createSecureContext({ ca: [...systemTrustAnchors().map((c) => c.toString()), ...extra] }),
      anchors: [...systemTrustAnchors(), ...extra.flatMap(parsePemCertificates)],
    };
    if (trustStores.size > 16) trustStores.clear(); // bounded: an operator probes a handful of CA sets
    trustStores.set(key, store);
  }
  return store;
}

/** Our chain walk and OpenSSL's verdict must agree; OpenSSL also knows basic constraints and key usage. */
export function reconcileTrust(walk: ReturnType<typeof evaluateTrust>, nodeError: string | undefined): ReturnType<typeof evaluateTrust> {
  if (!nodeError || TIME_ONLY_ERRORS.has(nodeError)) return walk.trusted || nodeError ? walk : { ...walk, trusted: true };
  if (walk.trusted) return { trusted: false, problem: 'bad-signature', detail: `OpenSSL rejects the chain: ${nodeError}` };
  return { ...walk, detail: `${walk.detail} [${nodeError}]` };
}

/** Leaf first; the certificates the server sent, linked as OpenSSL built the chain. */
export function peerChain(socket: tls.TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  // The X509Certificate form: no legacy object per certificate, no second parse of the DER.
  let cert: X509Certificate | undefined = socket.getPeerX509Certificate();
  while (cert && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
    cert = cert.issuerCertificate;
  }
  return chain;
}

async function checkAuthBeforeTls(channel: SmtpChannel, extensions: string[], deadline: Deadline): Promise<CheckResult> {
  const check = 'auth-before-tls';
  const advertised = hasExtension(extensions, 'AUTH');
  let reply = await command(channel, `AUTH PLAIN ${DUMMY_AUTH_PLAIN}`, deadline, check);
  if (reply.code === 334) {
    reply = await command(channel, '*', deadline, check);
    return { check, result: 'fail', reason: 'auth-before-tls', message: 'the server asked for credentials before TLS' };
  }
  const said = `${reply.code} ${excerpt(reply.lines.join(' '), 60)}`;
  if (reply.code >= 200 && reply.code < 300) return { check, result: 'fail', reason: 'auth-before-tls', message: `AUTH before TLS accepted: ${said}` };
  if (reply.code === 535) return { check, result: 'fail', reason: 'auth-before-tls', message: `credentials sent before TLS were checked (${said})` };
  if (advertised) return { check, result: 'fail', reason: 'auth-before-tls', message: `AUTH is advertised before TLS; AUTH PLAIN got ${said}` };
  if (reply.code >= 500) return { check, result: 'pass', message: `AUTH not advertised before TLS and refused (${said})` };
  return { check, result: 'warn', reason: 'auth-before-tls', message: `AUTH before TLS got a temporary answer: ${said}` };
}

async function afterTlsExtensions(channel: SmtpChannel, ep: Endpoint, deadline: Deadline, smtp: ProbeResult['smtp']): Promise<string[]> {
  if (ep.mode === 'implicit') {
    const greeting = await greet(channel, ep, deadline);
    smtp.banner = greeting.banner;
    return greeting.extensions;
  }
  const ehlo = await command(channel, `EHLO ${ep.ehloName}`, deadline, 'ehlo-after-tls');
  if (ehlo.code !== 250) throw new ProbeError('protocol-error', `ehlo-after-tls: EHLO refused inside TLS (${ehlo.code})`, 'ehlo-after-tls');
  return ehlo.lines.slice(1).map((l) => l.trim().toUpperCase()).filter(Boolean);
}

export function checkAfterTls(extensions: string[], unauthenticatedListener = false): CheckResult[] {
  const auth = extensions.find((e) => e.startsWith('AUTH'));
  return [
    auth
      ? { check: 'auth-after-tls', result: 'pass', message: `offered: ${auth}` }
      : unauthenticatedListener
        ? { check: 'auth-after-tls', result: 'pass', message: 'AUTH is not offered: an unauthenticated relay listener (its clients are allowed by address and sender domain)' }
        : { check: 'auth-after-tls', result: 'warn', reason: 'auth-not-offered', message: 'AUTH is not offered inside TLS (fine for an MX, wrong for submission)' },
    hasExtension(extensions, 'STARTTLS')
      ? { check: 'starttls-after-tls', result: 'warn', reason: 'starttls-after-tls', message: 'STARTTLS is still advertised inside TLS (RFC 3207 forbids it)' }
      : { check: 'starttls-after-tls', result: 'pass', message: 'STARTTLS no longer advertised inside TLS' },
  ];
}

/** After a failed implicit-TLS handshake: does the port greet in plaintext? */
async function plaintextGreeting(ep: Endpoint, deadline: Deadline): Promise<string | undefined> {
  let socket: net.Socket | undefined;
  try {
    socket = await tcpConnect(ep, deadline);
    const got = await new Promise<string>((resolve) => {
      let data = '';
      const timer = setTimeout(() => resolve(data), Math.min(deadline.step(STEP_CAP_MS), 2000));
      socket!.on('data', (chunk: Buffer) => {
        data += chunk.toString('latin1');
        if (data.includes('\n')) {
          clearTimeout(timer);
          resolve(data);
        }
      });
      socket!.on('error', () => resolve(data));
      socket!.on('close', () => resolve(data));
    });
    return /^[2-5]\d\d[ -]/.test(got) ? got.split(/\r?\n/)[0] : undefined;
  } catch {
    return undefined;
  } finally {
    socket?.destroy();
  }
}
