// SmtpRelay objects for the controller unit tests.
import type { EndpointStatus, SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
import type { BuildContext } from '../../../src/controller/builders/index.js';

export function relay(spec: Partial<SmtpRelaySpec> = {}, generation = 1): SmtpRelay {
  return {
    apiVersion: 'smtprelay.dev/v1alpha1',
    kind: 'SmtpRelay',
    metadata: { name: 'mail', namespace: 'team-a', uid: 'uid-1234', generation },
    spec: {
      hostname: 'smtp.example.com',
      tls: { issuerRef: { name: 'test-ca', kind: 'ClusterIssuer' } },
      upstream: { host: 'upstream.example.net' },
      // These unit tests are about the Deployment path; the Durable StatefulSet (the API default) has its own (queue-*.test.ts).
      queue: { mode: 'PassThrough' },
      ...spec,
    },
  };
}

export const ctx: BuildContext = { defaultImage: 'ghcr.io/example/smtp-relay:1.0.0', secretVersions: { 'mail-tls': '100' } };

/** A healthy probed endpoint as status.endpoints[] holds it. */
export function healthyEndpoint(over: Partial<EndpointStatus> = {}): EndpointStatus {
  return {
    name: 'submission',
    port: 587,
    mode: 'starttls',
    healthy: true,
    tlsVersion: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    group: 'X25519MLKEM768',
    matchesSecret: true,
    latencyMilliseconds: 12,
    lastProbeTime: '2026-11-28T10:00:00.000Z',
    ...over,
  };
}
