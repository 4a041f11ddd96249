import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs'
import { nodeRunning, type RunFiles, readPid } from '../src/control/run-files'

/**
 * A running node's claim on its run files (src/control/run-files.ts): the pid file says which
 * process serves the port, so a second node on the same port is refused (with SO_REUSEPORT it
 * would otherwise share the port silently, each with its own quotas and workers).
 */
export class NodeRunning extends Error {
  readonly exitCode = 1
}

/** Make the run directory (0700: only its owner may reach the socket in it) and write the pid. */
export function claimRunFiles(files: RunFiles, port: number): void {
  mkdirSync(files.dir, { recursive: true, mode: 0o700 })
  const other = readPid(files.pid)
  if (other !== null && other !== process.pid && nodeRunning(other)) {
    throw new NodeRunning(
      `a node already runs on port ${port} (pid ${other}, ${files.pid}): ` +
        '`seckill stop` it, or give this one another PORT or RUN_DIR',
    )
  }
  writeFileSync(files.pid, `${process.pid}\n`)
  // On every way out (a stop, a failed start, process.exit anywhere): leave no stale claim.
  process.on('exit', () => releaseRunFiles(files))
}

/** Remove the pid file and the socket, if they are still this process's. */
export function releaseRunFiles(files: RunFiles): void {
  if (readPid(files.pid) !== process.pid) return
  for (const file of [files.socket, files.pid]) {
    try {
      unlinkSync(file)
    } catch {}
  }
}
