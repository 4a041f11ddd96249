import { Agent, request as httpRequest } from 'node:http'

/**
 * A small HTTP/1.1 client over real sockets with keep-alive, for black-box tests of the API.
 * It answers every request, including connection errors (status 0), so a load loop never throws.
 */
export interface Reply {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: test code reads arbitrary JSON answers
  readonly json: any
}

export interface Client {
  request(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<Reply>
  close(): void
}

export function client(port: number, maxSockets = 64): Client {
  const agent = new Agent({ keepAlive: true, maxSockets })
  return {
    request(method, path, body, headers = {}) {
      const payload =
        body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
      return new Promise<Reply>((resolve) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method,
            path,
            agent,
            headers: {
              ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8')
              let json: unknown = null
              try {
                json = JSON.parse(text)
              } catch {}
              resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
            })
            res.on('error', (err) =>
              resolve({ status: 0, headers: {}, text: err.message, json: null }),
            )
          },
        )
        req.on('error', (err) => resolve({ status: 0, headers: {}, text: err.message, json: null }))
        if (payload !== undefined) req.write(payload)
        req.end()
      })
    },
    close() {
      agent.destroy()
    },
  }
}

/** Run `count` tasks with at most `concurrency` in flight; results in task order. */
export async function pool<T>(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const results = new Array<T>(count)
  let next = 0
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++
      results[i] = await task(i)
    }
  })
  await Promise.all(lanes)
  return results
}
