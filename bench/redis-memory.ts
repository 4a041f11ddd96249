import { parseArgs } from 'node:util'
import { saleKeys } from '../src/store/keys'
import { openSale } from './harness/admin'
import { ownRedis } from './harness/own-redis'
import { startSeckill } from './harness/servers'
import { freePort } from './harness/spawn'
import { storeFixture } from './harness/store-fixture'
import { Teardowns } from './harness/teardown'

/**
 * Redis memory per order, at rest: a sale of --orders units sold to as many distinct buyers
 * (each with an Idempotency-Key), then, once the order writer has every order in PostgreSQL and
 * the stream is empty, `used_memory` against the same Redis before the sale, divided by the
 * orders; and `MEMORY USAGE` of each of the sale's keys, to show where the bytes are. Redis is a
 * redis-server of the benchmark's own, so nothing else is in its memory.
 *
 *   node dist/bench/redis-memory.js [--orders 20000] [--connections 50] [--json]
 */
const KEYS = ['sale', 'users', 'idem', 'orders', 'expiry', 'stream', 'final'] as const

async function usedMemory(redis: { info(section: string): Promise<string> }): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1])
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string', default: '20000' },
      connections: { type: 'string', default: '50' },
      json: { type: 'boolean', default: false },
    },
  })
  const n = Number(values.orders)
  const connections = Number(values.connections)
  const t = new Teardowns()
  try {
    const own = await ownRedis(t)
    const stores = storeFixture(t, { tag: 'bench', redisUrl: own.url })
    const port = await freePort()
    await startSeckill(t, { port, workers: 2, env: stores.env() })
    await openSale(port, 'mem', n)
    await new Promise((r) => setTimeout(r, 1000))
    const before = await usedMemory(own.client)

    let next = 0
    let won = 0
    const buyer = async () => {
      for (let i = next++; i < n; i = next++) {
        const res = await fetch(`http://127.0.0.1:${port}/api/v1/sales/mem/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `key-${i}` },
          body: JSON.stringify({ userId: `buyer-${i}` }),
        })
        if (res.status === 201) won++
        await res.arrayBuffer()
      }
    }
    await Promise.all(Array.from({ length: connections }, buyer))
    if (won !== n) throw new Error(`${won} of ${n} purchases won`)

    const k = saleKeys(stores.prefix, 'mem')
    // At rest: every order in PostgreSQL, and the stream emptied by the writer's XDEL.
    for (let i = 0; ; i++) {
      const r = await stores.pg.query('SELECT count(*)::int AS c FROM orders WHERE sale_id = $1', [
        'mem',
      ])
      if (r.rows[0].c === n && (await own.client.xlen(k.stream)) === 0) break
      if (i > 600) throw new Error('the writer did not finish within 60 s')
      await new Promise((res) => setTimeout(res, 100))
    }
    await new Promise((r) => setTimeout(r, 1000))
    const after = await usedMemory(own.client)
    const perKey: Record<string, number> = {}
    for (const name of KEYS) {
      const bytes = (await own.client.memory('USAGE', k[name], 'SAMPLES', '0')) as number | null
      perKey[name] = bytes ?? 0
    }
    const result = {
      orders: n,
      usedMemoryBefore: before,
      usedMemoryAfter: after,
      bytesPerOrder: Math.round((after - before) / n),
      perKeyBytesPerOrder: Object.fromEntries(
        Object.entries(perKey).map(([name, b]) => [name, Math.round((b / n) * 10) / 10]),
      ),
    }
    if (values.json) process.stdout.write(`redis-memory-result ${JSON.stringify(result)}\n`)
    else {
      process.stdout.write(
        `${n} orders at rest (all in PostgreSQL, stream empty): used_memory ` +
          `${before} -> ${after} bytes, ${result.bytesPerOrder} B per order\n` +
          Object.entries(result.perKeyBytesPerOrder)
            .map(([name, b]) => `  ${name.padEnd(7)} ${b} B per order (MEMORY USAGE)`)
            .join('\n') +
          '\n',
      )
    }
  } finally {
    await t.run()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`redis-memory: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
