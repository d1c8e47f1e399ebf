// The cluster's host processes: started detached (their own session, so they outlive
// cluster:up), one pid file and one log per component under .cache/cluster/.
// A pid counts as ours only while /proc/<pid>/cmdline still starts with the command we
// started (pids are reused), so cluster:down never signals a stranger.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { paths } from './layout.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pidFile = (name) => path.join(paths.pids, `${name}.pid`);
export const logFile = (name) => path.join(paths.logs, `${name}.log`);

function readCmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return undefined;
  }
}

/** The running pid of a component we started, or undefined. */
export function runningPid(name) {
  let record;
  try {
    record = JSON.parse(fs.readFileSync(pidFile(name), 'utf8'));
  } catch {
    return undefined;
  }
  const argv = readCmdline(record.pid);
  return argv && argv[0] === record.argv0 ? record.pid : undefined;
}

/** Starts `command args` detached, logging to .cache/cluster/logs/<name>.log. Returns the pid. */
export function startDaemon(name, command, args, env = process.env) {
  fs.mkdirSync(paths.pids, { recursive: true });
  fs.mkdirSync(paths.logs, { recursive: true });
  const log = fs.openSync(logFile(name), 'a');
  let child;
  try {
    fs.writeSync(log, `\n===== ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
    child = spawn(command, args, { detached: true, stdio: ['ignore', log, log], env });
  } finally {
    fs.closeSync(log);
  }
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  child.unref();
  fs.writeFileSync(pidFile(name), JSON.stringify({ pid: child.pid, argv0: command }));
  return child.pid;
}

/** The last lines of a component's log, for error messages. */
export function logTail(name, lines = 25) {
  try {
    return fs.readFileSync(logFile(name), 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls check() until true; fails early when the component died, naming its log. */
export async function waitFor(name, check, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (runningPid(name) === undefined) throw new Error(`${name} exited (log ${logFile(name)}):\n${logTail(name)}`);
    try {
      if (await check()) return;
    } catch (err) {
      last = err.message;
    }
    await sleep(500);
  }
  throw new Error(`${name} not ready after ${timeoutMs / 1000}s${last ? ` (last error: ${last})` : ''} (log ${logFile(name)}):\n${logTail(name)}`);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after graceMs; removes the pid file. True when it was running. */
export async function stopDaemon(name, graceMs = 15_000) {
  const pid = runningPid(name);
  fs.rmSync(pidFile(name), { force: true });
  if (pid === undefined) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(50);
  return true;
}

/** Pids of processes whose command line contains `needle` (e.g. our containerd socket path). */
export function pidsWithArg(needle) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const argv = readCmdline(entry);
    if (argv?.some((a) => a.includes(needle))) pids.push(Number(entry));
  }
  return pids;
}
