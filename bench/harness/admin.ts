import { ADMIN_TOKEN } from './servers'

/**
 * What a benchmark asks a running seckill: the admin calls before its load (they throw on any
 * answer but a 2xx) and the metrics after it.
 */
export async function admin(port: number, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
}

/** Create and start a sale. */
export async function openSale(port: number, id: string, stock: number): Promise<void> {
  await admin(port, 'POST', '/api/v1/sales', { id, name: id, stock })
  await admin(port, 'POST', `/api/v1/sales/${id}/start`)
}

/** A histogram's count, sum and median bucket bound from Prometheus text. */
export function histogram(text: string, name: string) {
  const count = Number(new RegExp(`${name}_count (\\d+)`).exec(text)?.[1] ?? 0)
  const sum = Number(new RegExp(`${name}_sum (\\d+)`).exec(text)?.[1] ?? 0)
  const buckets = [
    ...text.matchAll(new RegExp(`${name}_bucket\\{le="([^"]+)"\\} (\\d+)`, 'g')),
  ].map(([, le, n]) => [le, Number(n)] as const)
  // The smallest bucket holding half the observations: a bound on the median.
  const median = buckets.find(([, n]) => n >= count / 2)?.[0] ?? '?'
  return { count, sum, mean: sum / Math.max(1, count), median }
}
