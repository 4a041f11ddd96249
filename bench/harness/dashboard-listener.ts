import { type ClientRequest, request } from 'node:http'

/**
 * A dashboard held open on a node (GET /api/v1/dashboard/events, server-sent events), as the
 * browser page does: for the tests of the push channel, and for `--dashboard` in the bench
 * runner, which measures the refusal path with a dashboard connected.
 */
export interface DashboardListener {
  /** the HTTP status of the stream's answer (0 until it arrives) */
  readonly status: () => number
  /** each snapshot received, parsed, with the time it arrived */
  readonly snapshots: { at: number; snapshot: Record<string, unknown> }[]
  /** resolves with the status once the answer's headers arrived (or 0 on a connection error) */
  readonly answered: Promise<number>
  close(): void
}

export function listenDashboard(port: number, token: string): DashboardListener {
  const snapshots: DashboardListener['snapshots'] = []
  let status = 0
  let req: ClientRequest | null = null
  const answered = new Promise<number>((resolve) => {
    req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/dashboard/events',
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        status = res.statusCode ?? 0
        resolve(status)
        let buf = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          buf += chunk
          for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
            const frame = buf.slice(0, end)
            buf = buf.slice(end + 2)
            for (const line of frame.split('\n')) {
              if (line.startsWith('data: ')) {
                snapshots.push({ at: Date.now(), snapshot: JSON.parse(line.slice(6)) })
              }
            }
          }
        })
        res.on('error', () => {})
      },
    )
    req.on('error', () => resolve(0))
    req.end()
  })
  return {
    status: () => status,
    snapshots,
    answered,
    close: () => req?.destroy(),
  }
}
