import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'

/**
 * Where a node keeps the files an operator's commands find it by: its pid file, its control
 * socket and (started with `seckill start -d`) its log. One run directory may serve several
 * nodes of a machine: every name carries the node's port, which no two nodes share.
 */
export interface RunFiles {
  readonly dir: string
  readonly pid: string
  readonly socket: string
  /** the log of a node started with `seckill start -d` and no LOG_FILE */
  readonly log: string
}

/**
 * A unix socket's path must fit sun_path: 108 bytes on Linux, 104 on macOS; longer paths fail
 * at bind with a message that names neither.
 */
const SOCKET_PATH_MAX = 103

export function runFiles(o: { readonly RUN_DIR: string; readonly PORT: number }): RunFiles {
  const dir = resolve(o.RUN_DIR)
  const base = `${dir}/seckill-${o.PORT}`
  const files = { dir, pid: `${base}.pid`, socket: `${base}.sock`, log: `${base}.log` }
  if (Buffer.byteLength(files.socket) > SOCKET_PATH_MAX) {
    throw new Error(
      `RUN_DIR ${dir} is too long for a unix socket path (${files.socket}, at most ` +
        `${SOCKET_PATH_MAX} bytes): choose a shorter RUN_DIR`,
    )
  }
  return files
}

/** The pid in a pid file, or null when there is none (or it holds no pid). */
export function readPid(file: string): number | null {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return null
  }
  const pid = Number.parseInt(text.trim(), 10)
  return Number.isInteger(pid) && pid > 0 ? pid : null
}

/** Whether a process with this pid exists (signal 0 probes without signalling). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The command line of a live process, or null when there is none with that pid. */
export function commandOf(pid: number): string | null {
  if (!alive(pid)) return null
  const proc = `/proc/${pid}/cmdline`
  if (existsSync(proc)) {
    try {
      return readFileSync(proc, 'utf8').replaceAll('\0', ' ').trim()
    } catch {
      return null
    }
  }
  try {
    return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' }).trim()
  } catch {
    return null
  }
}

/**
 * Whether `pid` is a live seckill node (`node …/primary.js`, `seckill start`): a pid file left by
 * a node killed with -9 may name a pid the system has since given to another program.
 */
export function nodeRunning(pid: number): boolean {
  return /primary\.js|seckill/.test(commandOf(pid) ?? '')
}
