import { type ChildProcess, execFileSync, type SpawnOptions, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join, relative } from 'node:path'
import { checkoutRoot } from '../../src/http/static-asset'

/**
 * The one way the tests and the benchmarks run a process of their own (a seckill node, the bare
 * uWS baseline, the benchmark runner, a private Redis or PostgreSQL): its output kept for the
 * messages a test reads and for the error when it fails, and a stop that waits for the exit.
 */

/**
 * The repository: the nearest folder up with a package.json. This file runs from bench/harness
 * when tap runs the tests' sources and from dist/bench/harness when a benchmark runs the build.
 */
export const ROOT = checkoutRoot(__dirname)

export interface Child {
  readonly proc: ChildProcess
  /** its exit code once it has exited (null: ended by a signal, or it could not start) */
  readonly exited: Promise<number | null>
  /** everything it printed so far, stdout and stderr */
  output(): string
  /**
   * resolves once it has printed `text`; if it exits first or does not print it in time, it is
   * SIGKILLed (a half-started server must not outlive its caller) and this rejects with its output
   */
  printed(text: string, timeoutMs: number): Promise<void>
  /** send `signal` (SIGTERM) unless it has exited, and wait for the exit */
  stop(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * Start `command` in the repository with `env` over this process's environment; a name set to
 * undefined is left out of the child's environment (a node started with nothing configured).
 */
export function launch(
  command: string,
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  as: Pick<SpawnOptions, 'uid' | 'gid'> = {},
): Child {
  const proc = spawn(command, args, {
    ...as,
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const keep = (d: Buffer) => {
    out += d
  }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  const exited = new Promise<number | null>((resolve) => {
    proc.once('exit', (code) => resolve(code))
    proc.once('error', (err) => {
      out += `${command}: ${err.message}\n`
      resolve(null)
    })
  })
  // In messages: the script for a node process (dist/cluster/primary.js), else the command.
  const name = relative(ROOT, command === process.execPath ? (args[0] ?? command) : command)
  const child: Child = {
    proc,
    exited,
    output: () => out,
    printed: (text, timeoutMs) => whenPrinted(child, name, text, timeoutMs),
    stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return exited
    },
  }
  return child
}

/**
 * `node dist/<script> ...args`: a process of the build, this checkout's unless `root` names
 * another built checkout (a benchmark comparing with an older version).
 */
export function launchNode(
  script: string,
  env: Record<string, string | undefined> = {},
  args: readonly string[] = [],
  root: string = ROOT,
): Child {
  return launch(process.execPath, [join(root, 'dist', script), ...args], env)
}

function whenPrinted(c: Child, name: string, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false
    const done = (err: Error | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      c.proc.stdout?.off('data', look)
      c.proc.stderr?.off('data', look)
      if (!err) return resolve()
      c.proc.kill('SIGKILL')
      reject(err)
    }
    const look = () => {
      if (c.output().includes(text)) done(null)
    }
    const timer = setTimeout(
      () => done(new Error(`${name} did not print "${text}" in ${timeoutMs} ms:\n${c.output()}`)),
      timeoutMs,
    )
    c.proc.stdout?.on('data', look)
    c.proc.stderr?.on('data', look)
    c.exited.then((code) =>
      done(new Error(`${name} exited with ${code} before printing "${text}":\n${c.output()}`)),
    )
    look()
  })
}

/** Wait for `c` to exit by itself, SIGKILLing it after `timeoutMs`: its exit code and output. */
export async function untilExit(
  c: Child,
  timeoutMs: number,
): Promise<{ code: number | null; out: string }> {
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), timeoutMs)
  const code = await c.exited
  clearTimeout(timer)
  return { code, out: c.output() }
}

/** SIGTERM (or `signal`) a process started elsewhere and wait for its exit; at once if gone. */
export function stopped(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise<void>((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve()
    p.once('exit', () => resolve())
    p.kill(signal)
  })
}

/** A TCP port nothing listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() =>
        addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port')),
      )
    })
  })
}

/** The pids of the processes whose parent is `pid` (a node's workers). */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number)
  } catch {
    return []
  }
}
