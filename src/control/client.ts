import { connect } from 'node:net'
import type { ControlAnswer, ControlRequest } from './protocol'

/** Why a node could not be asked: nothing listens on its socket (it is not running), or else. */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly code: 'not_running' | 'failed',
  ) {
    super(message)
  }
}

/**
 * Ask the node behind `socketPath` one thing and resolve with its answer's value. A reload takes
 * as long as the workers take to drain: the caller picks the timeout.
 */
export function askNode<T>(socketPath: string, req: ControlRequest, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const sock = connect(socketPath)
    let data = ''
    const timer = setTimeout(() => {
      sock.destroy()
      reject(
        new ControlError(`the node did not answer "${req.cmd}" within ${timeoutMs} ms`, 'failed'),
      )
    }, timeoutMs)
    sock.setEncoding('utf8')
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`))
    sock.on('data', (chunk: string) => {
      data += chunk
    })
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const gone = err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
      reject(
        new ControlError(
          gone ? `no node answers on ${socketPath}` : `${socketPath}: ${err.message}`,
          gone ? 'not_running' : 'failed',
        ),
      )
    })
    sock.on('end', () => {
      clearTimeout(timer)
      let answer: ControlAnswer<T>
      try {
        answer = JSON.parse(data) as ControlAnswer<T>
      } catch {
        return reject(
          new ControlError(`the node's answer is not JSON: ${data.slice(0, 200)}`, 'failed'),
        )
      }
      if (answer.ok) resolve(answer.value)
      else reject(new ControlError(answer.error, 'failed'))
    })
  })
}
