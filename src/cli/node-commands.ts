import { spawn } from 'node:child_process'
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  unlinkSync,
} from 'node:fs'
import { join } from 'node:path'
import type { RunConfig } from '../config'
import { askNode, ControlError } from '../control/client'
import type { NodeStatus, ReloadResult, WorkerSaleView } from '../control/protocol'
import { alive, nodeRunning, type RunFiles, readPid, runFiles } from '../control/run-files'
import { renderStatus, renderViews } from './status-view'

/**
 * The commands that drive a node on this machine, found by its run files (pid file and control
 * socket, named by PORT in RUN_DIR): start -d, stop, restart, reload, status.
 */

/** Exit code of a command that needs a running node and found none (LSB's "not running"). */
export const NOT_RUNNING = 3
const PRIMARY = join(__dirname, '../../cluster/primary.js')
/** A cold start (Redis, PostgreSQL, migrations, forks) takes about a second; a slow disk more. */
const START_TIMEOUT_MS = 60_000
/** Beyond SHUTDOWN_TIMEOUT_MS (the workers' drain), the writer's last step and the disconnects. */
const STOP_MARGIN_MS = 15_000
/** A reload drains every worker in turn: each up to SHUTDOWN_TIMEOUT_MS, and a start. */
const RELOAD_TIMEOUT_MS = 600_000

function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

function complain(line: string): void {
  process.stderr.write(`seckill: ${line}\n`)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The pid of the node this run directory names, or null. A pid file whose process is gone, or
 * is not a seckill node any more (a pid reused after a kill -9), is stale: removed.
 */
export async function runningPid(files: RunFiles): Promise<number | null> {
  const pid = readPid(files.pid)
  if (pid === null) return null
  if (alive(pid) && (await isNode(files, pid))) return pid
  for (const file of [files.pid, files.socket]) {
    try {
      unlinkSync(file)
    } catch {}
  }
  return null
}

async function isNode(files: RunFiles, pid: number): Promise<boolean> {
  try {
    const status = await askNode<NodeStatus>(files.socket, { cmd: 'status' }, 3000)
    if (status.node.pid === pid) return true
  } catch {}
  // Not answering (still starting, or hung): trust the pid if the process is a node's.
  return nodeRunning(pid)
}

/**
 * `seckill start -d`: the node in the background (its output in the log file), returning once it
 * serves, or failing with what it printed when it exits or does not serve in time.
 */
export async function startDetached(
  run: RunConfig,
  configFile: string | undefined,
): Promise<number> {
  const files = runFiles(run)
  const running = await runningPid(files)
  if (running !== null) {
    complain(
      `already running on port ${run.PORT} (pid ${running}); \`seckill restart\` replaces it`,
    )
    return 1
  }
  mkdirSync(files.dir, { recursive: true, mode: 0o700 })
  const logFile = run.LOG_FILE === '' ? files.log : run.LOG_FILE
  // 0600: the log holds the admin token when one is generated.
  const fd = openSync(logFile, 'a', 0o600)
  const from = fstatSync(fd).size
  const args = configFile === undefined ? [PRIMARY] : [PRIMARY, '--config', configFile]
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, LOG_FILE: logFile },
  })
  closeSync(fd)
  child.unref()
  let exited: string | null = null
  child.on('exit', (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`
  })
  const deadline = Date.now() + START_TIMEOUT_MS
  while (Date.now() < deadline) {
    await sleep(100)
    if (exited !== null) {
      complain(`the node did not start (${exited}); from ${logFile}:`)
      process.stderr.write(tail(printedSince(logFile, from), 20))
      return 1
    }
    const status = await askNode<NodeStatus>(files.socket, { cmd: 'status' }, 2000).catch(
      () => null,
    )
    if (status?.node.serving) {
      const lines = printedSince(logFile, from)
        .split('\n')
        .filter((l) => l.startsWith('seckill: '))
      for (const l of lines) say(l)
      say(`seckill: started in the background (pid ${child.pid}); log ${logFile}`)
      return 0
    }
  }
  child.kill('SIGTERM')
  complain(`the node did not serve within ${START_TIMEOUT_MS / 1000} s; stopped it. See ${logFile}`)
  return 1
}

function printedSince(file: string, from: number): string {
  try {
    return readFileSync(file).subarray(from).toString('utf8')
  } catch {
    return ''
  }
}

function tail(text: string, n: number): string {
  const lines = text.split('\n').filter(Boolean)
  return lines.length === 0 ? '' : `${lines.slice(-n).join('\n')}\n`
}

/**
 * `seckill stop`: SIGTERM the node (it stops accepting, drains, answers what it admitted, lets
 * the writer commit) and wait; SIGKILL it and its workers when it outlives the stop timeout.
 * Stopping a node that is not running is not a failure (exit 0), as with init scripts.
 */
export async function stopNode(run: RunConfig): Promise<number> {
  const files = runFiles(run)
  const pid = await runningPid(files)
  if (pid === null) {
    say(`seckill: not running on port ${run.PORT} (no live pid in ${files.pid})`)
    return 0
  }
  const started = Date.now()
  process.kill(pid, 'SIGTERM')
  const deadline = started + run.SHUTDOWN_TIMEOUT_MS + STOP_MARGIN_MS
  while (Date.now() < deadline) {
    if (!alive(pid)) {
      say(`seckill: stopped (pid ${pid}) in ${((Date.now() - started) / 1000).toFixed(1)} s`)
      return 0
    }
    await sleep(50)
  }
  for (const p of [pid, ...childrenOf(pid)]) {
    try {
      process.kill(p, 'SIGKILL')
    } catch {}
  }
  complain(
    `pid ${pid} did not stop within ${(deadline - started) / 1000} s; killed it and its workers`,
  )
  return 1
}

/** The processes whose parent is `pid` (Linux /proc; elsewhere none are found). */
function childrenOf(pid: number): number[] {
  const out: number[] = []
  let entries: string[] = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return out
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8')
      // The fields after the command name (which may hold spaces) start after its ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(e))
    } catch {}
  }
  return out
}

/** `seckill reload`: every worker replaced in turn; the answer lists the pids. */
export async function reloadNode(run: RunConfig): Promise<number> {
  const files = runFiles(run)
  try {
    const r = await askNode<ReloadResult>(files.socket, { cmd: 'reload' }, RELOAD_TIMEOUT_MS)
    for (const x of r.replaced) say(`worker ${x.slot}: pid ${x.old} -> ${x.new}`)
    say(`seckill: reloaded ${r.replaced.length} workers in ${(r.ms / 1000).toFixed(1)} s`)
    return 0
  } catch (err) {
    return failed(err, run)
  }
}

/** `seckill status [--json] [--sale ID]`. */
export async function statusOfNode(run: RunConfig, json: boolean, sale?: string): Promise<number> {
  const files = runFiles(run)
  try {
    if (sale !== undefined) {
      const views = await askNode<WorkerSaleView[]>(files.socket, { cmd: 'views', sale }, 5000)
      process.stdout.write(json ? `${JSON.stringify(views, null, 2)}\n` : renderViews(sale, views))
      return 0
    }
    const status = await askNode<NodeStatus>(files.socket, { cmd: 'status' }, 5000)
    process.stdout.write(json ? `${JSON.stringify(status, null, 2)}\n` : renderStatus(status))
    return 0
  } catch (err) {
    return failed(err, run)
  }
}

function failed(err: unknown, run: RunConfig): number {
  if (err instanceof ControlError && err.code === 'not_running') {
    complain(`not running on port ${run.PORT} (${err.message})`)
    return NOT_RUNNING
  }
  complain((err as Error).message)
  return 1
}
