// A real HAProxy (Debian's) in TCP mode in front of a relay, for PROXY protocol tests.
// Each frontend forwards to one backend port and announces the client with send-proxy-v2.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { getFreePort } from '../harness/controlplane.js';

export const HAPROXY_BIN = fs.existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';

export interface Haproxy {
  /** Frontend port per name given. */
  ports: Record<string, number>;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * `source`: the loopback address HAProxy connects to the backends from (what the relay
 * must trust). Frontends listen on 127.0.0.1.
 */
export async function startHaproxy(opts: { source: string; frontends: Record<string, { backendPort: number }> }): Promise<Haproxy> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haproxy-'));
  const ports: Record<string, number> = {};
  const sections: string[] = [];
  for (const [name, f] of Object.entries(opts.frontends)) {
    ports[name] = await getFreePort();
    sections.push(
      `frontend fe_${name}`,
      `  bind 127.0.0.1:${ports[name]}`,
      `  default_backend be_${name}`,
      `backend be_${name}`,
      `  server relay 127.0.0.1:${f.backendPort} send-proxy-v2 source ${opts.source}`,
    );
  }
  const cfg = [
    'global',
    '  maxconn 200',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    ...sections,
    '',
  ].join('\n');
  const cfgPath = path.join(dir, 'haproxy.cfg');
  fs.writeFileSync(cfgPath, cfg);
  const child: ChildProcess = spawn(HAPROXY_BIN, ['-db', '-f', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Ready when every frontend accepts a connection.
  const until = Date.now() + 10_000;
  for (const port of Object.values(ports)) {
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port }, () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) break;
      if (child.exitCode !== null || Date.now() > until) throw new Error(`haproxy did not start:\n${out}\n${cfg}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    ports,
    logs: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
