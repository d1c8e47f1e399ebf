// What the kernel says about a process: resident memory and CPU time, from /proc.
import fs from 'node:fs';

/** VmRSS of a process in MiB (from /proc/<pid>/status). */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/** VmHWM of a process in MiB: the peak resident memory since it started. */
export function peakRssMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** utime+stime of a process in seconds (from /proc/<pid>/stat). With children: also its reaped children (cutime+cstime). */
export function cpuSeconds(pid: number, withReapedChildren = false): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime 15, cutime 16, cstime 17.
  const at = (field: number) => Number(fields[field - 3]);
  const ticks = at(14) + at(15) + (withReapedChildren ? at(16) + at(17) : 0);
  return ticks / CLOCK_TICKS;
}

/** Pids whose executable name (comm) matches, e.g. every Postfix daemon; optionally only those whose cmdline mentions a string. */
export function pidsByComm(names: readonly string[], cmdlineIncludes?: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = fs.readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (!names.includes(comm)) continue;
      if (cmdlineIncludes && !fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(cmdlineIncludes)) continue;
      out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/** Sum of cpuSeconds over pids that still exist. */
export function cpuSecondsOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSeconds(pid);
    } catch {
      // gone
    }
  }
  return total;
}

export function machine(): { nproc: number; cpu: string; memGiB: number; node: string; kernel: string } {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const cpu = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const nproc = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const mem = Number(/^MemTotal:\s+(\d+)/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const kernel = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  return { nproc, cpu, memGiB: Math.round((mem / 1024 / 1024) * 10) / 10, node: process.version, kernel };
}
