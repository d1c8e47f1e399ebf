// A private Postfix instance (Debian postfix) as a real upstream: smtpd on a
// loopback port offering STARTTLS, relaying for 127.0.0.0/8, delivering
// dest.example to one Maildir. Built on the shared core in private-postfix.ts.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { getFreePort } from '../../harness/controlplane.js';
import { startPrivatePostfix } from './private-postfix.js';

const run = promisify(execFile);

export interface PostfixUpstream {
  port: number;
  maildir: string;
  /** Delivered messages (raw), in the order Postfix wrote them. */
  delivered(): string[];
  stop(): Promise<void>;
}

export async function startPostfix(root: string, tls: { cert: string; key: string }): Promise<PostfixUpstream> {
  const mail = path.join(root, 'mail');
  const port = await getFreePort();
  const master = fs.readFileSync('/etc/postfix/master.cf', 'utf8').replace(/^smtp(\s+)inet/m, `127.0.0.1:${port}$1inet`);
  const postfix = await startPrivatePostfix({
    root,
    ports: [port],
    master: [master],
    prepare: async () => {
      fs.writeFileSync(path.join(root, 'cert.pem'), tls.cert);
      fs.writeFileSync(path.join(root, 'key.pem'), tls.key, { mode: 0o600 });
      fs.mkdirSync(mail, { recursive: true });
      await run('chown', ['65534:65534', mail]); // virtual(8) delivers as nobody
    },
    main: [
      'myhostname = upstream.test.example',
      'mydestination =',
      'mynetworks = 127.0.0.0/8',
      `smtpd_tls_cert_file = ${path.join(root, 'cert.pem')}`,
      `smtpd_tls_key_file = ${path.join(root, 'key.pem')}`,
      'smtpd_tls_security_level = may',
      'smtpd_tls_mandatory_protocols = >=TLSv1.2',
      'smtpd_relay_restrictions = permit_mynetworks, reject',
      'virtual_mailbox_domains = dest.example',
      `virtual_mailbox_base = ${mail}`,
      'virtual_mailbox_maps = static:Maildir/',
      'virtual_uid_maps = static:65534',
      'virtual_gid_maps = static:65534',
    ],
  });
  const newDir = path.join(mail, 'Maildir', 'new');
  return {
    port,
    maildir: newDir,
    delivered: () =>
      fs.existsSync(newDir)
        ? fs
            .readdirSync(newDir)
            .sort()
            .map((f) => fs.readFileSync(path.join(newDir, f), 'utf8'))
        : [],
    stop: postfix.stop,
  };
}
