import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs'
import { createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { commandOf } from '../src/control/run-files'
import { log } from '../src/log'

/**
 * A server process a node runs for itself (its local redis-server or postgres): a child of the
 * primary whose output goes to a log file in its data directory, noticed (logged) and started
 * again when it dies while the node runs, and stopped with the node.
 */
export interface ChildSpec {
  /** what the log and the messages call it: 'redis-server', 'postgres' */
  readonly name: string
  readonly command: string
  readonly args: readonly string[]
  /** appended to; the server's own messages, read back when it fails */
  readonly logFile: string
  /** the account to run as (PostgreSQL refuses to run as root) */
  readonly as?: Account
  readonly env?: NodeJS.ProcessEnv
}

/** A local service as the node sees it once it answers. */
export interface LocalServer {
  /** what the node connects with (password included: hand it on, log it redacted) */
  readonly url: string
  /** where its data lives */
  readonly dir: string
  readonly pid: number | undefined
  stop(): Promise<void>
}

export interface Account {
  readonly uid: number
  readonly gid: number
}

/** A restart after a crash waits this long, doubling up to the cap: a crash loop stays quiet. */
const FIRST_RESTART_MS = 500
const MAX_RESTART_MS = 30_000
/** A run this long counts as healthy: the next crash restarts at the first delay again. */
const HEALTHY_RUN_MS = 60_000

/** Every local server process alive now, for a stop that comes while one is still starting. */
const alive = new Set<ChildProcess>()

/** Ask every local server still running to shut down (SIGTERM: each one's graceful stop). */
export function signalAll(): void {
  for (const proc of alive) proc.kill('SIGTERM')
}

export class LocalChild {
  private proc: ChildProcess | null = null
  private stopping = false
  private restartTimer: NodeJS.Timeout | null = null
  private restartMs = FIRST_RESTART_MS
  private startedAt = 0

  constructor(private readonly spec: ChildSpec) {}

  get pid(): number | undefined {
    return this.proc?.pid
  }

  /** Start the process; `ready` then tells when it takes requests. */
  launch(): void {
    const { command, args, logFile, as, env } = this.spec
    const out = openSync(logFile, 'a', 0o600)
    try {
      // detached: a process group of its own, so the terminal's Ctrl-C (SIGINT to the whole
      // foreground group) reaches only the primary, which then stops the node before its stores.
      this.proc = spawn(command, args, {
        detached: true,
        stdio: ['ignore', out, out],
        env: env ?? process.env,
        ...(as ?? {}),
      })
    } finally {
      closeSync(out)
    }
    this.startedAt = Date.now()
    const proc = this.proc
    proc.on('error', () => {}) // reported by 'exit' (or by ready(), for a spawn that failed)
    alive.add(proc)
    proc.once('exit', (code, signal) => {
      alive.delete(proc)
      this.exited(proc, code, signal)
    })
  }

  /**
   * Resolves once `answers()` is true; rejects with the end of its log when the process exits
   * first or does not answer within `timeoutMs`.
   */
  async ready(answers: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const proc = this.proc
    if (proc === null) throw new Error(`${this.spec.name} was not started`)
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) {
        throw new Error(`${this.spec.name} exited while starting: ${this.logTail()}`)
      }
      if (await answers().catch(() => false)) return
      if (Date.now() > deadline) {
        throw new Error(`${this.spec.name} did not answer in ${timeoutMs} ms: ${this.logTail()}`)
      }
      await sleep(100)
    }
  }

  /**
   * Stop it for good: `graceful()` asks it to shut down (its own way, keeping its data), then
   * SIGKILL after `timeoutMs`. Resolves once it has exited.
   */
  async stop(graceful: (proc: ChildProcess) => Promise<void>, timeoutMs: number): Promise<void> {
    this.stopping = true
    if (this.restartTimer !== null) clearTimeout(this.restartTimer)
    const proc = this.proc
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
    await graceful(proc).catch(() => {})
    const timer = setTimeout(() => {
      log.warn({ service: this.spec.name, timeoutMs }, 'local service did not stop in time: killed')
      proc.kill('SIGKILL')
    }, timeoutMs)
    await gone
    clearTimeout(timer)
  }

  /** The last lines of its log, on one line: what it said before failing. */
  logTail(lines = 5): string {
    return tail(this.spec.logFile, lines).join(' | ') || '(it printed nothing)'
  }

  private exited(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping || this.proc !== proc) return
    // Died under a running node: the clients reconnect by themselves once it is back, and its
    // data (Redis's AOF, PostgreSQL's WAL) brings back everything it had acknowledged.
    if (Date.now() - this.startedAt > HEALTHY_RUN_MS) this.restartMs = FIRST_RESTART_MS
    const inMs = this.restartMs
    this.restartMs = Math.min(this.restartMs * 2, MAX_RESTART_MS)
    log.error(
      { service: this.spec.name, code, signal, restartInMs: inMs, log: this.logTail() },
      'local service exited: starting it again',
    )
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null
      if (this.stopping) return
      try {
        this.launch()
      } catch (err) {
        log.error({ service: this.spec.name, err: (err as Error).message }, 'restart failed')
      }
    }, inMs)
  }
}

/** The last `n` non-empty lines of a file (its last 4 KiB), or none. */
export function tail(file: string, n: number): string[] {
  try {
    const size = statSync(file).size
    const length = Math.min(size, 4096)
    const buf = Buffer.alloc(length)
    const fd = openSync(file, 'r')
    try {
      readSync(fd, buf, 0, length, size - length)
    } finally {
      closeSync(fd)
    }
    return buf.toString('utf8').split('\n').filter(Boolean).slice(-n)
  } catch {
    return []
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The first executable called `name` on `path` (a PATH value), or null. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | null {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, name)
    try {
      const st = statSync(candidate)
      if (st.isFile() && (st.mode & 0o111) !== 0) return candidate
    } catch {}
  }
  return null
}

/** A TCP port nothing listens on right now on 127.0.0.1 (the kernel's pick), or `wanted` if free. */
export async function freePort(wanted = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', (err) => (wanted !== 0 ? resolve(freePort(0)) : reject(err)))
    s.listen(wanted, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() =>
        addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port')),
      )
    })
  })
}

/**
 * A server left running by a node that was killed (SIGKILL, a crash: its children live on):
 * when the pid file names a live process whose command line contains `looksLike`, send it
 * `signal` (its graceful stop) and wait up to `timeoutMs` for it to go, so this node can start
 * its own on the same data. Returns the pid it stopped, or null.
 */
export async function stopLeftover(
  pidFile: string,
  looksLike: string,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<number | null> {
  let pid: number
  try {
    pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10)
  } catch {
    return null
  }
  if (!Number.isInteger(pid) || pid <= 1) return null
  const command = commandOf(pid)
  if (command === null || !command.includes(looksLike)) return null
  // serverPid: the log's own pid field is the primary's.
  log.warn({ serverPid: pid, command }, 'a local service left by an earlier run: stopping it')
  process.kill(pid, signal)
  const deadline = Date.now() + timeoutMs
  while (commandOf(pid) !== null) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL')
      await sleep(200)
      break
    }
    await sleep(100)
  }
  return pid
}
