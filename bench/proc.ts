/**
 * What a process costs, read from /proc (Linux): CPU time (user + system, in ms) and resident
 * memory. The bench samples each process of the stack before and after a phase.
 */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux the bench runs on). */
const TICKS_PER_S = 100;

/** CPU time the process has used so far (user + system, ms), or NaN when it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state (field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return ((utime + stime) * 1000) / TICKS_PER_S;
  } catch {
    return Number.NaN;
  }
}

/** Resident memory (MB), or NaN when the process is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** The 1-minute load average of the machine. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** CPU used by each named process between two samples. */
export class CpuMeter {
  private readonly start: Record<string, number>;
  private readonly t0 = performance.now();
  readonly load0 = loadAverage();

  constructor(private readonly pids: Record<string, number>) {
    this.start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMs(pid)]));
  }

  /** ms of CPU per process since the meter started, the wall time, and the load before/after. */
  read(): { cpuMs: Record<string, number>; wallMs: number; load: [number, number] } {
    const cpu = Object.fromEntries(Object.entries(this.pids).map(([k, pid]) => [k, cpuMs(pid) - this.start[k]]));
    return { cpuMs: cpu, wallMs: performance.now() - this.t0, load: [this.load0, loadAverage()] };
  }
}
