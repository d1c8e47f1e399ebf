// The shared core of every private Postfix (Debian's postfix package) the tests
// and benchmarks run: its own config dir, queue, data dir and log under one
// root, started with `postfix -c DIR start`, smtpd on loopback ports only.
// Callers add the main.cf lines and master.cf services that make their setup.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PostfixDirs {
  root: string;
  conf: string;
  queue: string;
  data: string;
}

export interface PrivatePostfix {
  dirs: PostfixDirs;
  /** The master daemon's pid (its children are smtpd, qmgr, ...). */
  masterPid: number;
  log(): string;
  stop(): Promise<void>;
}

export interface PrivatePostfixOptions {
  /** Root dir; default a new temp dir (removed on stop). */
  root?: string;
  /** main.cf lines beyond the instance basics (dirs, owner, loopback, log); a function when they name the dirs. */
  main: string[] | ((dirs: PostfixDirs) => string[]);
  /** master.cf content: full lines. Default: the system master.cf. */
  master: string[];
  /** Ports smtpd must be listening on before start resolves. */
  ports: number[];
  /** Runs after the dirs exist and before Postfix starts (write certs, SASL config...). */
  prepare?: (dirs: PostfixDirs) => Promise<void> | void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startPrivatePostfix(opts: PrivatePostfixOptions): Promise<PrivatePostfix> {
  const which = await run('sh', ['-c', 'command -v postfix']).catch(() => undefined);
  if (!which) throw new Error("postfix is not installed: 'apt-get install -y postfix' (Debian) is needed here");
  const ownRoot = !opts.root;
  const root = opts.root ?? fs.mkdtempSync(path.join(os.tmpdir(), 'private-postfix-'));
  const dirs: PostfixDirs = { root, conf: path.join(root, 'conf'), queue: path.join(root, 'queue'), data: path.join(root, 'data') };
  for (const d of [dirs.conf, dirs.queue, dirs.data]) fs.mkdirSync(d, { recursive: true });
  // Postfix daemons run as `postfix` and must reach their dirs (mkdtemp makes them 0700).
  fs.chmodSync(root, 0o755);
  if (!ownRoot) fs.chmodSync(path.dirname(root), 0o755);
  await run('chown', ['postfix', dirs.data]);
  await opts.prepare?.(dirs);
  const logFile = path.join(root, 'maillog');
  fs.writeFileSync(
    path.join(dirs.conf, 'main.cf'),
    [
      'compatibility_level = 3.6',
      `queue_directory = ${dirs.queue}`,
      `data_directory = ${dirs.data}`,
      'meta_directory = /etc/postfix',
      'mail_owner = postfix',
      'setgid_group = postdrop',
      'inet_interfaces = 127.0.0.1',
      'inet_protocols = ipv4',
      'maillog_file_prefixes = /var, /dev/stdout, /tmp',
      `maillog_file = ${logFile}`,
      ...(typeof opts.main === 'function' ? opts.main(dirs) : opts.main),
      '',
    ].join('\n'),
  );
  fs.writeFileSync(path.join(dirs.conf, 'master.cf'), [...opts.master, ''].join('\n'));
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : '');
  let masterPid = 0;
  const stop = async () => {
    // `postfix stop` can fail quietly (it reports to the maillog): the master's pid decides.
    await run('postfix', ['-c', dirs.conf, 'stop']).catch(() => undefined);
    for (let i = 0; i < 50 && masterPid && alive(masterPid); i++) await new Promise((r) => setTimeout(r, 100));
    if (masterPid && alive(masterPid)) process.kill(masterPid, 'SIGKILL');
    if (ownRoot) fs.rmSync(root, { recursive: true, force: true });
  };
  await run('postfix', ['-c', dirs.conf, 'start']).catch((err: Error) => {
    throw new Error(`postfix did not start: ${err.message}\n${log()}`);
  });
  masterPid = Number(fs.readFileSync(path.join(dirs.queue, 'pid', 'master.pid'), 'utf8').trim());
  const until = Date.now() + 15_000;
  for (const port of opts.ports) {
    while (!(await listening(port))) {
      if (Date.now() > until) {
        const text = log();
        await stop();
        throw new Error(`postfix smtpd did not listen on ${port}\n${text}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { dirs, masterPid, log, stop };
}
