import { chmodSync, unlinkSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import type { ControlAnswer, ControlRequest } from '../src/control/protocol'
import { log } from '../src/log'

/**
 * The node's control socket (src/control/protocol.ts): a unix socket only its owner can open
 * (mode 0600, in a run directory of mode 0700), so the status, a reload and the admin token are
 * never reachable through a world-readable channel.
 */
export type ControlHandlers = {
  [C in ControlRequest['cmd']]: (req: Extract<ControlRequest, { cmd: C }>) => Promise<unknown>
}

/** A request line longer than this is not one of ours. */
const MAX_REQUEST = 4096

export function serveControl(path: string, handlers: ControlHandlers): Promise<Server> {
  const server = createServer((sock) => onConnection(sock, handlers))
  return new Promise((resolve, reject) => {
    // A socket file left by a node that was killed: nothing listens on it (the pid file check
    // before this made sure no live node owns it).
    try {
      unlinkSync(path)
    } catch {}
    // Created 0600 from the start: the umask applies to the bind, and the chmod after it holds
    // where a platform ignores the umask for sockets.
    const umask = process.umask(0o177)
    server.once('error', (err) => {
      process.umask(umask)
      reject(new Error(`cannot create the control socket ${path}: ${err.message}`))
    })
    server.listen(path, () => {
      process.umask(umask)
      chmodSync(path, 0o600)
      resolve(server)
    })
  })
}

function onConnection(sock: Socket, handlers: ControlHandlers): void {
  let line = ''
  sock.setEncoding('utf8')
  sock.on('error', () => {})
  sock.on('data', (chunk: string) => {
    line += chunk
    const end = line.indexOf('\n')
    if (end < 0 && line.length < MAX_REQUEST) return
    sock.removeAllListeners('data')
    answer(line.slice(0, end < 0 ? MAX_REQUEST : end), handlers).then((a) =>
      sock.end(`${JSON.stringify(a)}\n`),
    )
  })
}

async function answer(line: string, handlers: ControlHandlers): Promise<ControlAnswer> {
  let req: { cmd?: unknown; sale?: unknown }
  try {
    req = JSON.parse(line) as { cmd?: unknown }
  } catch {
    return {
      ok: false,
      error: 'a request is one JSON line: {"cmd": "status" | "reload" | "token" | "views", …}',
    }
  }
  const cmd = req?.cmd
  if (typeof cmd !== 'string' || !Object.hasOwn(handlers, cmd)) {
    return { ok: false, error: `unknown command ${JSON.stringify(cmd)}` }
  }
  if (cmd === 'views' && typeof req.sale !== 'string') {
    return { ok: false, error: '"views" needs "sale": the sale id' }
  }
  try {
    const handler = handlers[cmd as ControlRequest['cmd']] as (
      r: ControlRequest,
    ) => Promise<unknown>
    return { ok: true, value: await handler(req as ControlRequest) }
  } catch (err) {
    log.warn({ cmd, err: (err as Error).message }, 'control command failed')
    return { ok: false, error: (err as Error).message }
  }
}
