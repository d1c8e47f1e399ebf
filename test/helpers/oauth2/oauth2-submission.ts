// A real upstream that validates bearer tokens: a private Postfix (submission on a
// loopback port, STARTTLS, AUTH only after TLS, relaying only for authenticated
// clients) whose SASL is a private Dovecot (Debian dovecot-core 2.3) with the `oauth2`
// passdb, asking the authorization server's introspection endpoint about every token
// (no auth cache). XOAUTH2 and OAUTHBEARER are the only mechanisms.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { getFreePort } from '../../harness/controlplane.js';
import { ManagedProcess } from '../../harness/process.js';
import { startPrivatePostfix } from '../smtp/private-postfix.js';

const run = promisify(execFile);

export interface OAuth2SubmissionOptions {
  introspectionUrl: string;
  /** The scope a token must carry (Dovecot `scope`). */
  requiredScope: string;
  /**
   * `sub`: the token's subject must be the XOAUTH2 user (Google: sub = the mailbox).
   * `any-user`: any mailbox for a valid token (Exchange Online with the app granted the
   * mailboxes: the client-credentials token names the app, not the mailbox).
   */
  userCheck: 'sub' | 'any-user';
  tls: { cert: string; key: string };
  domains?: string[];
}

export interface OAuth2Submission {
  port: number;
  /** Delivered messages (raw). */
  delivered(): string[];
  /** Waits until n messages were delivered in all (Postfix delivers after its 250). */
  waitForDelivered(n: number, timeoutMs?: number): Promise<string[]>;
  postfixLog(): string;
  dovecotLog(): string;
  stop(): Promise<void>;
}

export async function startOAuth2Submission(root: string, opts: OAuth2SubmissionOptions): Promise<OAuth2Submission> {
  const which = await run('sh', ['-c', 'command -v dovecot']).catch(() => undefined);
  if (!which) throw new Error("dovecot is not installed: 'apt-get install -y --no-install-recommends dovecot-core' (Debian) is needed here");
  fs.mkdirSync(root, { recursive: true });
  fs.chmodSync(root, 0o755); // the postfix user walks through it to its dirs
  const dv = path.join(root, 'dovecot');
  for (const d of ['run', 'state']) fs.mkdirSync(path.join(dv, d), { recursive: true });
  const authSocket = path.join(dv, 'auth-postfix');
  const dovecotLog = path.join(dv, 'dovecot.log');
  fs.writeFileSync(
    path.join(dv, 'oauth2.conf.ext'),
    [
      'introspection_mode = post',
      `introspection_url = ${opts.introspectionUrl}`,
      'active_attribute = active',
      'active_value = true',
      `scope = ${opts.requiredScope}`,
      // any-user: a constant format makes both sides equal, so only the token decides.
      ...(opts.userCheck === 'sub' ? ['username_attribute = sub', 'username_format = %Lu'] : ['username_attribute = client_id', 'username_format = any-user']),
      '',
    ].join('\n'),
  );
  fs.writeFileSync(
    path.join(dv, 'dovecot.conf'),
    [
      'protocols = none',
      `base_dir = ${path.join(dv, 'run')}`,
      `state_dir = ${path.join(dv, 'state')}`,
      `log_path = ${dovecotLog}`,
      'ssl = no',
      'auth_mechanisms = xoauth2 oauthbearer',
      'auth_verbose = yes',
      'auth_cache_size = 0',
      'passdb {',
      '  driver = oauth2',
      '  mechanisms = xoauth2 oauthbearer',
      `  args = ${path.join(dv, 'oauth2.conf.ext')}`,
      '}',
      'userdb {',
      '  driver = static',
      '  args = uid=nobody gid=nogroup home=/nonexistent',
      '}',
      // No auth penalty: every test connects from 127.0.0.1, so earlier refusals would delay
      // (2, 4, 8 ... s) later AUTHs past the short token lifetimes the tests use.
      'service anvil {',
      '  unix_listener anvil-auth-penalty {',
      '    mode = 0',
      '  }',
      '}',
      'service auth {',
      `  unix_listener ${authSocket} {`,
      '    mode = 0666',
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const dovecot = ManagedProcess.start({ name: 'dovecot', command: 'dovecot', args: ['-F', '-c', path.join(dv, 'dovecot.conf')], logPath: path.join(dv, 'stdout.log') });
  const until = Date.now() + 15_000;
  while (!fs.existsSync(authSocket)) {
    if (dovecot.hasExited || Date.now() > until) throw new Error(`dovecot did not start\n${dovecot.logTail()}\n${readOr(dovecotLog)}`);
    await new Promise((r) => setTimeout(r, 50));
  }

  const port = await getFreePort();
  const pf = path.join(root, 'postfix');
  const mail = path.join(pf, 'mail');
  // Not chrooted, so smtpd reaches Dovecot's socket by its absolute path.
  const master = fs.readFileSync('/etc/postfix/master.cf', 'utf8').replace(/^smtp(\s+)inet\s+n\s+-\s+y/m, `127.0.0.1:${port}$1inet n - n`);
  let postfix;
  try {
    postfix = await startPrivatePostfix({
      root: pf,
      ports: [port],
      master: [master],
      prepare: async () => {
        fs.writeFileSync(path.join(pf, 'cert.pem'), opts.tls.cert);
        fs.writeFileSync(path.join(pf, 'key.pem'), opts.tls.key, { mode: 0o600 });
        fs.mkdirSync(mail, { recursive: true });
        await run('chown', ['65534:65534', mail]); // virtual(8) delivers as nobody
      },
      main: [
        'myhostname = oauth2-upstream.test.example',
        'mydestination =',
        'mynetworks = 127.0.0.1/32',
        `smtpd_tls_cert_file = ${path.join(pf, 'cert.pem')}`,
        `smtpd_tls_key_file = ${path.join(pf, 'key.pem')}`,
        'smtpd_tls_security_level = may',
        'smtpd_tls_mandatory_protocols = >=TLSv1.2',
        'smtpd_tls_auth_only = yes',
        'smtpd_sasl_auth_enable = yes',
        'smtpd_sasl_type = dovecot',
        `smtpd_sasl_path = ${authSocket}`,
        // Only an authenticated client relays: a token Dovecot refused gets no mail through.
        'smtpd_relay_restrictions = permit_sasl_authenticated, reject',
        `virtual_mailbox_domains = ${(opts.domains ?? ['dest.example']).join(', ')}`,
        `virtual_mailbox_base = ${mail}`,
        'virtual_mailbox_maps = static:Maildir/',
        'virtual_uid_maps = static:65534',
        'virtual_gid_maps = static:65534',
      ],
    });
  } catch (err) {
    await dovecot.stop(5_000);
    throw err;
  }
  const newDir = path.join(mail, 'Maildir', 'new');
  const delivered = () => (fs.existsSync(newDir) ? fs.readdirSync(newDir).sort().map((f) => fs.readFileSync(path.join(newDir, f), 'utf8')) : []);
  return {
    port,
    delivered,
    waitForDelivered: async (n, timeoutMs = 15_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const got = delivered();
        if (got.length >= n) return got;
        if (Date.now() > until) throw new Error(`${got.length} of ${n} messages delivered\n${postfix.log().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    postfixLog: postfix.log,
    dovecotLog: () => readOr(dovecotLog),
    stop: async () => {
      await postfix.stop();
      await dovecot.stop(5_000);
    },
  };
}

function readOr(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}
