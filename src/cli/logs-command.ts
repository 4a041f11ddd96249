import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { prettyFactory } from 'pino-pretty'
import type { RunConfig } from '../config'
import { runFiles } from '../control/run-files'

/**
 * `seckill logs [-f] [-n N]`: the last N lines of the node's log file (LOG_FILE, or the run
 * directory's log of a node started with `seckill start -d`), then, with -f, what it appends,
 * across a logrotate (the file replaced or truncated). JSON lines are made readable on a
 * terminal; piped, they pass through as they are.
 */
const FOLLOW_POLL_MS = 250
const CHUNK = 64 * 1024

export async function logsCommand(run: RunConfig, lines: number, follow: boolean): Promise<number> {
  const file = run.LOG_FILE === '' ? runFiles(run).log : run.LOG_FILE
  let size: number
  let ino: number
  try {
    ;({ size, ino } = statSync(file))
  } catch {
    process.stderr.write(
      `seckill: no log file ${file} (a node logs to a file when started with \`seckill start -d\` or with LOG_FILE set)\n`,
    )
    return 1
  }
  const write = lineWriter(process.stdout.isTTY === true)
  const from = Math.max(0, size - lines * 2048)
  // Starting mid-file: the first line read is partial, dropped.
  const text = readRange(file, from, size, from > 0)
  const last = text.split('\n').filter(Boolean).slice(-lines)
  for (const l of last) write(l)
  if (!follow) return 0
  let pos = size
  let partial = ''
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS))
    let st: { size: number; ino: number }
    try {
      st = statSync(file)
    } catch {
      continue // moved away by logrotate, the new one not created yet
    }
    if (st.ino !== ino || st.size < pos) {
      // Rotated (a new file) or truncated (copytruncate): read the new one from its start.
      ino = st.ino
      pos = 0
      partial = ''
    }
    if (st.size === pos) continue
    const chunk = partial + readRange(file, pos, st.size, false)
    pos = st.size
    const parts = chunk.split('\n')
    partial = parts.pop() ?? ''
    for (const l of parts) if (l !== '') write(l)
  }
}

function readRange(file: string, from: number, to: number, dropFirst: boolean): string {
  const fd = openSync(file, 'r')
  try {
    const out: Buffer[] = []
    for (let at = from; at < to; ) {
      const buf = Buffer.alloc(Math.min(CHUNK, to - at))
      const n = readSync(fd, buf, 0, buf.length, at)
      if (n === 0) break
      out.push(buf.subarray(0, n))
      at += n
    }
    const text = Buffer.concat(out).toString('utf8')
    return dropFirst ? text.slice(text.indexOf('\n') + 1) : text
  } finally {
    closeSync(fd)
  }
}

function lineWriter(pretty: boolean): (line: string) => void {
  if (!pretty) return (line) => process.stdout.write(`${line}\n`)
  const format = prettyFactory({
    colorize: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'hostname',
  })
  return (line) => {
    // The start line and a failed start's message are plain text, not JSON.
    if (!line.startsWith('{')) return void process.stdout.write(`${line}\n`)
    process.stdout.write(format(line))
  }
}
