import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { admin } from './harness/admin'
import { workerViews } from './harness/fleet'
import { until } from './harness/poll'
import { startSeckill } from './harness/servers'
import { freePort } from './harness/spawn'
import { storeFixture } from './harness/store-fixture'
import { Teardowns } from './harness/teardown'

/**
 * How long a sale change made on one node takes to reach every worker of every node: --nodes
 * nodes (--workers each) on one Redis and PostgreSQL; --changes changes made through node 0's
 * admin API (start, top-up, close, in turn, on fresh sales); for each, the time from just before
 * the request to the moment the last worker of the fleet applied it (each worker notes when its
 * copy of the sale changed; read over each node's control socket, `seckill status --sale`). Then
 * --sellouts sales sold out on node 0: the time from the last sale (Redis TIME of the order) to
 * the moment the last worker of the other nodes refuses "sold out" without asking Redis.
 *
 *   node dist/bench/propagation.js [--nodes 3] [--workers 2] [--changes 100] [--sellouts 20] [--json]
 */
const STOCK = 10
const TTL_S = 300

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      workers: { type: 'string', default: '2' },
      changes: { type: 'string', default: '100' },
      sellouts: { type: 'string', default: '20' },
      json: { type: 'boolean', default: false },
    },
  })
  const t = new Teardowns()
  try {
    const runDir = mkdtempSync(join(tmpdir(), 'seckill-propagation-'))
    t.teardown(() => rmSync(runDir, { recursive: true, force: true }))
    const stores = storeFixture(t, { tag: 'bench' })
    const ports: number[] = []
    for (let i = 0; i < Number(values.nodes); i++) {
      const port = await freePort()
      await startSeckill(t, {
        port,
        workers: Number(values.workers),
        env: { ...stores.env(), RUN_DIR: runDir },
      })
      ports.push(port)
    }
    const [first] = ports as [number]
    /** The latest `sinceMs` over the workers of `of`, once all show `state` and `stock`. */
    async function appliedAt(of: number[], id: string, state: string, stock: number) {
      let last = 0
      const ms = await until(
        async () => {
          last = 0
          for (const port of of) {
            for (const w of await workerViews(runDir, port, id)) {
              if (w.view?.state !== state || w.view.stock !== stock) return false
              last = Math.max(last, w.view.sinceMs)
            }
          }
          return true
        },
        { timeoutMs: 10_000, everyMs: 5 },
      )
      if (ms < 0) throw new Error(`${id} did not become ${state} (${stock}) on every worker`)
      return last
    }

    const delays: Record<'start' | 'stock' | 'close', number[]> = {
      start: [],
      stock: [],
      close: [],
    }
    const total = Number(values.changes)
    for (let n = 0, s = 0; n < total; s++) {
      const id = `prop-${s}`
      await admin(first, 'POST', '/api/v1/sales', { id, name: id, stock: STOCK })
      const steps = [
        ['start', undefined, 'open', STOCK],
        ['stock', { add: 5 }, 'open', STOCK + 5],
        ['close', undefined, 'closed', STOCK + 5],
      ] as const
      for (const [what, body, state, stock] of steps) {
        if (n++ >= total) break
        const t0 = Date.now()
        await admin(first, 'POST', `/api/v1/sales/${id}/${what}`, body)
        delays[what].push((await appliedAt(ports, id, state, stock)) - t0)
      }
    }

    const sellouts: number[] = []
    for (let s = 0; s < Number(values.sellouts); s++) {
      const id = `out-${s}`
      await admin(first, 'POST', '/api/v1/sales', {
        id,
        name: id,
        stock: 3,
        paymentTtlSeconds: TTL_S,
      })
      await admin(first, 'POST', `/api/v1/sales/${id}/start`)
      let lastSale = 0
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://127.0.0.1:${first}/api/v1/sales/${id}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ userId: `b${i}` }),
        })
        const order = (await res.json()) as { expiresAt?: string }
        if (res.status !== 201 || !order.expiresAt) throw new Error(`buying ${id}: ${res.status}`)
        lastSale = Math.max(lastSale, Date.parse(order.expiresAt) - TTL_S * 1000)
      }
      sellouts.push((await appliedAt(ports.slice(1), id, 'sold_out', 3)) - lastSale)
    }

    const all = [...delays.start, ...delays.stock, ...delays.close]
    const rows = {
      'start, top-up, close': summary(all),
      start: summary(delays.start),
      'top-up': summary(delays.stock),
      close: summary(delays.close),
      'sold out (other nodes)': summary(sellouts),
    }
    if (values.json) {
      console.log(JSON.stringify({ nodes: ports.length, workers: Number(values.workers), rows }))
    } else {
      console.log(
        `propagation to every worker of ${ports.length} nodes × ${values.workers} workers (ms):`,
      )
      console.table(rows)
    }
  } finally {
    await t.run()
  }
}

/** Nearest-rank percentiles of a few hundred delays, in ms. */
function summary(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b)
  const at = (p: number) => s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN
  return { n: s.length, p50: at(50), p99: at(99), max: s[s.length - 1] ?? NaN }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)
