// A private Postfix (Debian's postfix package) for the prober's tests: several
// smtpd services on loopback ports, each a different real-world configuration.
// Built on the shared core in test/helpers/smtp/private-postfix.ts.
import fs from 'node:fs';
import path from 'node:path';
import { getFreePort } from '../../harness/controlplane.js';
import { startPrivatePostfix } from '../../helpers/smtp/private-postfix.js';

export type PostfixService = 'submission' | 'submissions' | 'defaults' | 'authBeforeTls' | 'openRelay';

export interface PostfixInstance {
  ports: Record<PostfixService, number>;
  log(): string;
  stop(): Promise<void>;
}

/** Hardened like a careful admin would: TLS >= 1.2, no static RSA, no SHA-1 MACs, no CCM_8. */
const HARDENED_EXCLUDES = 'aNULL, kRSA, SHA1, AESCCM8';

// Only what smtpd needs; chroot off (column 5 = n) so no chroot jail has to be populated.
const BASE_SERVICES = [
  'pickup unix n - n 60 1 pickup', 'cleanup unix n - n - 0 cleanup', 'qmgr unix n - n 300 1 qmgr', 'tlsmgr unix - - n 1000? 1 tlsmgr',
  'rewrite unix - - n - - trivial-rewrite', 'bounce unix - - n - 0 bounce', 'defer unix - - n - 0 bounce', 'trace unix - - n - 0 bounce',
  'verify unix - - n - 1 verify', 'flush unix n - n 1000? 0 flush', 'proxymap unix - - n - - proxymap', 'proxywrite unix - - n - 1 proxymap',
  'smtp unix - - n - - smtp', 'relay unix - - n - - smtp', 'showq unix n - n - - showq', 'error unix - - n - - error', 'retry unix - - n - - error',
  'discard unix - - n - - discard', 'local unix - n n - - local', 'anvil unix - - n - 1 anvil', 'scache unix - - n - 1 scache',
  'postlog unix-dgram n - n - 1 postlogd',
];

export async function startPostfixInstance(tls: { chainPem: string; keyPem: string; hostname: string }): Promise<PostfixInstance> {
  const ports: Record<PostfixService, number> = { submission: await getFreePort(), submissions: await getFreePort(), defaults: await getFreePort(), authBeforeTls: await getFreePort(), openRelay: await getFreePort() };
  const postfix = await startPrivatePostfix({
    ports: Object.values(ports),
    prepare: (dirs) => {
      const root = dirs.root;
      fs.writeFileSync(path.join(root, 'chain.pem'), tls.chainPem);
      fs.writeFileSync(path.join(root, 'key.pem'), tls.keyPem, { mode: 0o600 });
      // Cyrus SASL so smtpd offers AUTH; no user database: every login fails, which is all a probe needs.
      fs.mkdirSync(path.join(dirs.conf, 'sasl'), { recursive: true });
      fs.writeFileSync(path.join(dirs.conf, 'sasl', 'smtpd.conf'), `pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\nsasldb_path: ${root}/sasldb2\n`);
    },
    main: (dirs) => [
      `myhostname = ${tls.hostname}`,
      'mydestination =',
      'alias_maps =',
      'alias_database =',
      'smtpd_relay_restrictions = permit_sasl_authenticated, reject',
      `smtpd_tls_chain_files = ${path.join(dirs.root, 'key.pem')}, ${path.join(dirs.root, 'chain.pem')}`,
      'smtpd_tls_security_level = may',
      'smtpd_tls_auth_only = yes',
      'smtpd_tls_protocols = >=TLSv1.2',
      'smtpd_tls_mandatory_protocols = >=TLSv1.2',
      `smtpd_tls_exclude_ciphers = ${HARDENED_EXCLUDES}`,
      'smtpd_sasl_auth_enable = yes',
      'smtpd_sasl_type = cyrus',
      'smtpd_sasl_path = smtpd',
      `cyrus_sasl_config_path = ${path.join(dirs.conf, 'sasl')}`,
    ],
    master: [
      ...BASE_SERVICES,
      `127.0.0.1:${ports.submission} inet n - n - - smtpd`,
      `127.0.0.1:${ports.submissions} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes`,
      // Postfix's own defaults for the cipher list, as most installations run it.
      `127.0.0.1:${ports.defaults} inet n - n - - smtpd -o smtpd_tls_exclude_ciphers=`,
      `127.0.0.1:${ports.authBeforeTls} inet n - n - - smtpd -o smtpd_tls_auth_only=no`,
      // The classic misconfiguration: "our own network may relay", and the prober connects from inside it.
      `127.0.0.1:${ports.openRelay} inet n - n - - smtpd -o mynetworks=127.0.0.0/8 -o smtpd_relay_restrictions=permit_mynetworks,reject`,
    ],
  });
  return { ports, log: postfix.log, stop: postfix.stop };
}
