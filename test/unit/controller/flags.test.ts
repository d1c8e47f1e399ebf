import { describe, expect, test } from '@jest/globals';
import { FlagError, parseOperatorFlags, type OperatorOptions } from '../../../src/controller/flags.js';

const parse = (args: string[]) => parseOperatorFlags(args, {}) as OperatorOptions;

describe('operator flags', () => {
  test('defaults', () => {
    expect(parse([])).toEqual({
      metricsPort: 8080,
      healthPort: 8081,
      leaderElect: true,
      leaderElectionNamespace: 'smtp-relay-system',
      leaderElectionId: 'smtp-relay-operator',
      concurrency: 4,
      defaultRelayImage: 'ghcr.io/smtp-relay-operator/smtp-relay-operator:0.1.0',
      tlsProbe: true,
      probeConcurrency: 10,
      probeLocalEndpoints: false,
      probeFullHandshakeEveryMs: 600_000,
      resyncMs: 600_000,
      drainTimeoutMs: 600_000,
      bindAddress: '0.0.0.0',
      allowedRelayImages: [],
      allowedClusterIssuers: ['*'],
      allowedUpstreamHosts: ['*'],
      monitoringNamespace: 'monitoring',
      operatorNamespace: 'smtp-relay-system',
      mailAuthCheck: true,
      dnsServers: [],
    });
  });

  test('--mail-auth-check and --dns-servers: the daily SPF/DKIM/DMARC lookups and where they go', () => {
    expect(parse(['--mail-auth-check=off']).mailAuthCheck).toBe(false);
    expect(parse(['--dns-servers', '10.96.0.10, 127.0.0.1:5353,[::1]:53']).dnsServers).toEqual(['10.96.0.10', '127.0.0.1:5353', '[::1]:53']);
    expect(() => parse(['--dns-servers=dns.example.com'])).toThrow(FlagError);
    expect(() => parse(['--dns-servers=dns.example.com'])).toThrow(/--dns-servers: "dns.example.com" is not an IP address/);
  });

  test('--drain-timeout bounds how long a Durable replica may deliver its queue before removal', () => {
    expect(parse(['--drain-timeout', '90s']).drainTimeoutMs).toBe(90_000);
    expect(() => parse(['--drain-timeout=soon'])).toThrow(/--drain-timeout must be a duration/);
  });

  test('--monitoring-namespace names the namespace the relays\' NetworkPolicy lets scrape metrics', () => {
    expect(parse(['--monitoring-namespace', 'prometheus']).monitoringNamespace).toBe('prometheus');
    expect(parse(['--operator-namespace', 'ops']).operatorNamespace).toBe('ops');
    expect(() => parse(['--monitoring-namespace=Not_A_Namespace'])).toThrow(/--monitoring-namespace must be a namespace name/);
  });

  test('reads every option in both --flag=value and --flag value forms', () => {
    const o = parse(['--kubeconfig', '/k', '--namespace=team-a', '--metrics-port=0', '--health-port', '9000', '--leader-elect=false', '--leader-election-namespace', 'ops', '--concurrency=8', '--default-relay-image', 'r/relay:2', '--tls-probe=off', '--resync=30s']);
    expect(o).toMatchObject({ kubeconfig: '/k', namespaces: ['team-a'], metricsPort: 0, healthPort: 9000, leaderElect: false, leaderElectionNamespace: 'ops', concurrency: 8, defaultRelayImage: 'r/relay:2', tlsProbe: false, resyncMs: 30_000 });
    expect(parse(['--leader-elect']).leaderElect).toBe(true);
    expect(parse(['--tls-probe', 'off']).tlsProbe).toBe(false);
  });

  test('probe flags: concurrency, local endpoints (development), interval override (tests)', () => {
    expect(parse(['--probe-concurrency=3', '--probe-local-endpoints', '--probe-interval-override', '2s'])).toMatchObject({ probeConcurrency: 3, probeLocalEndpoints: true, probeIntervalOverrideMs: 2000 });
    expect(parse(['--probe-local-endpoints=false']).probeLocalEndpoints).toBe(false);
    expect(() => parse(['--probe-concurrency=0'])).toThrow(/--probe-concurrency must be an integer 1-256/);
    expect(() => parse(['--probe-interval-override=100ms'])).toThrow(/at least 1s/);
  });

  test('--probe-full-handshake-every: how old the certificate verdicts of a resumed TLS session may be; 0s turns resumption off', () => {
    expect(parse(['--probe-full-handshake-every=5m']).probeFullHandshakeEveryMs).toBe(300_000);
    expect(parse(['--probe-full-handshake-every=0s']).probeFullHandshakeEveryMs).toBe(0);
    expect(() => parse(['--probe-full-handshake-every=500ms'])).toThrow(/0s \(no TLS session resumption\) or a duration of at least 1s/);
    expect(() => parse(['--probe-full-handshake-every=soon'])).toThrow(FlagError);
  });

  test('takes POD_NAMESPACE for the Lease namespace', () => {
    expect((parseOperatorFlags([], { POD_NAMESPACE: 'ops' }) as OperatorOptions).leaderElectionNamespace).toBe('ops');
  });

  test('--help', () => {
    expect(parseOperatorFlags(['--help'], {})).toBe('help');
  });

  test.each([
    [['--bogus'], /unknown option --bogus/],
    [['--metrics-port=http'], /port number/],
    [['--concurrency=0'], /1-64/],
    [['--tls-probe=maybe'], /on\/off/],
    [['--resync=often'], /duration/],
    [['--namespace'], /needs a value/],
    [['stray'], /unexpected argument/],
  ])('rejects %j with a clear message', (args, message) => {
    expect(() => parseOperatorFlags(args as string[], {})).toThrow(FlagError);
    expect(() => parseOperatorFlags(args as string[], {})).toThrow(message as RegExp);
  });
});
