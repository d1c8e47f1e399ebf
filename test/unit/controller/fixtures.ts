// SmtpRelay objects for the controller unit tests.
import type { SmtpRelay, SmtpRelaySpec } from '../../../src/api/types.js';
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
      ...spec,
    },
  };
}

export const ctx: BuildContext = { defaultImage: 'ghcr.io/example/smtp-relay:1.0.0', secretVersions: { 'mail-tls': '100' } };
