import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'

/**
 * CPU time per process from /proc (user + system, every thread), for the benchmarks that say what
 * a node costs: bench/idle.ts (doing nothing) and bench/cpu-per-order.ts (selling).
 */
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** CPU seconds a process has used so far (utime + stime), or 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // After the name: state(0) ppid(1) ... utime(11) stime(12).
    return (Number(fields[11]) + Number(fields[12])) / TICKS
  } catch {
    return 0
  }
}

/** Every live process whose command name is `name` (e.g. every PostgreSQL process). */
export function processesNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        return readFileSync(`/proc/${e}/comm`, 'utf8').trim() === name
      } catch {
        return false
      }
    })
    .map(Number)
}

/** A named set of processes, listed again at each reading (PostgreSQL backends come and go). */
export type ProcessGroup = readonly [name: string, pids: () => number[]]

export interface GroupCpu {
  readonly process: string
  readonly cpuSeconds: number
}

/**
 * Start counting: the returned function gives each group's CPU seconds since this call. A process
 * that started in between counts from 0; one that ended takes its time with it (so measure
 * processes that live through the window).
 */
export function cpuMeter(groups: readonly ProcessGroup[]): () => GroupCpu[] {
  const before = groups.map(([, pids]) => new Map(pids().map((p) => [p, cpuSeconds(p)])))
  return () =>
    groups.map(([name, pids], i) => ({
      process: name,
      cpuSeconds: pids().reduce((sum, p) => sum + cpuSeconds(p) - (before[i]!.get(p) ?? 0), 0),
    }))
}
