import { connect, type Socket } from 'node:net'

/**
 * Raw HTTP/1.1 over a TCP socket, for tests of framing and pipelining: what exactly goes over the
 * wire and whether the server closes the connection. node:http would hide both.
 */

export interface Parsed {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

/**
 * Split a byte stream into HTTP/1.1 responses, one per request method given (a HEAD response has
 * no body, whatever its Content-Length says). `rest` is what is left after them: bytes that would
 * desync a keep-alive client if they are not a response it expects.
 */
export function parseResponses(
  text: string,
  methods: string[],
): { responses: Parsed[]; rest: string } {
  const responses: Parsed[] = []
  let at = 0
  for (const method of methods) {
    const end = text.indexOf('\r\n\r\n', at)
    if (end < 0) break
    const [statusLine = '', ...lines] = text.slice(at, end).split('\r\n')
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine)
    if (!m) break
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      const key = line.slice(0, colon).toLowerCase()
      const value = line.slice(colon + 1).trim()
      headers[key] = key in headers ? `${headers[key]}, ${value}` : value
    }
    const length = method === 'HEAD' ? 0 : Number(headers['content-length'] ?? 0)
    const body = text.slice(end + 4, end + 4 + length)
    if (body.length < length) break
    responses.push({ status: Number(m[1]), headers, body })
    at = end + 4 + length
  }
  return { responses, rest: text.slice(at) }
}

/** One raw TCP connection: write bytes, read what comes back, see whether the server closed it. */
export class Conn {
  private readonly socket: Socket
  text = ''
  /** the server closed (FIN or RST) */
  closed = false
  reset = false
  private wake: (() => void) | null = null

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.setEncoding('latin1')
    this.socket.on('data', (d: string) => {
      this.text += d
      this.wake?.()
    })
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') this.reset = true
    })
    this.socket.on('close', () => {
      this.closed = true
      this.wake?.()
    })
  }

  /** write, waiting for the kernel to take it all (a 5 MB body does not fit at once) */
  async write(bytes: string | Buffer): Promise<void> {
    if (this.closed) return
    if (!this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes)) {
      await new Promise<void>((resolve) => {
        this.socket.once('drain', resolve)
        this.socket.once('close', resolve)
      })
    }
  }

  /** wait until `done(text)` or the server closes, at most `ms` */
  async until(done: (text: string) => boolean, ms = 2000): Promise<void> {
    const deadline = Date.now() + ms
    while (!done(this.text) && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.wake = resolve
        setTimeout(resolve, Math.max(1, deadline - Date.now()))
      })
      this.wake = null
    }
  }

  /** wait for `methods.length` responses (or a close, or `ms`) and parse them */
  async responses(methods: string[], ms = 2000) {
    await this.until(
      (text) => parseResponses(text, methods).responses.length === methods.length,
      ms,
    )
    return parseResponses(this.text, methods)
  }

  destroy(): void {
    this.socket.destroy()
  }
}
