// Child processes of the test control plane that never outlive the test run:
// - stop() sends SIGTERM, then SIGKILL after a grace period;
// - an 'exit' hook SIGKILLs whatever is still running when Node exits normally;
// - a detached shell watchdog per child kills it if this Node process dies
//   without running exit hooks (SIGKILL, crash, default SIGINT handling).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.killNow();
  });
}

// Polls once a second; ends quietly when the child ends first.
const WATCHDOG = `
while kill -0 "$1" 2>/dev/null; do
  kill -0 "$2" 2>/dev/null || exit 0
  sleep 1
done
kill -TERM "$2" 2>/dev/null; sleep 3; kill -KILL "$2" 2>/dev/null; exit 0
`;

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logPath: string;
  env?: NodeJS.ProcessEnv;
}

export class ManagedProcess {
  readonly name: string;
  readonly logPath: string;
  private readonly child: ChildProcess;
  private readonly watchdog: ChildProcess | undefined;
  private readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined;
  private watchdogStopped = false;

  private constructor(opts: StartOptions) {
    this.name = opts.name;
    this.logPath = opts.logPath;
    const log = fs.openSync(opts.logPath, 'a');
    try {
      this.child = spawn(opts.command, opts.args, { stdio: ['ignore', log, log], env: opts.env ?? process.env });
    } finally {
      fs.closeSync(log);
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? null : -1);
        live.delete(this);
        this.stopWatchdog();
        resolve(code);
      });
      this.child.once('error', (err) => {
        fs.appendFileSync(opts.logPath, `\nspawn error: ${err.message}\n`);
        this.exitCode = -1;
        live.delete(this);
        this.stopWatchdog();
        resolve(-1);
      });
    });
    if (this.child.pid !== undefined) {
      this.watchdog = spawn('sh', ['-c', WATCHDOG, 'watchdog', String(process.pid), String(this.child.pid)], { detached: true, stdio: 'ignore' });
      this.watchdog.on('error', () => undefined);
      this.watchdog.unref();
    }
    live.add(this);
    installExitHook();
  }

  static start(opts: StartOptions): ManagedProcess {
    return new ManagedProcess(opts);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the process has exited (or failed to spawn). */
  get hasExited(): boolean {
    return this.exitCode !== undefined;
  }

  /** Resolves with the exit code (null when killed by a signal). */
  waitForExit(): Promise<number | null> {
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after graceMs. Idempotent. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.hasExited) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Synchronous last resort for the exit hook. */
  killNow(): void {
    if (!this.hasExited) this.child.kill('SIGKILL');
    this.stopWatchdog();
  }

  /** The last lines of the log, for error messages. */
  logTail(lines = 20): string {
    try {
      return fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private stopWatchdog(): void {
    const pid = this.watchdog?.pid;
    if (pid === undefined || this.watchdogStopped) return;
    this.watchdogStopped = true;
    try {
      process.kill(-pid, 'SIGKILL'); // its own process group: the shell and its sleep
    } catch {
      // already gone
    }
  }
}
