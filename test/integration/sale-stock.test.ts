import { spawnSync } from 'node:child_process'
import t from 'tap'
import { pool } from '../helpers/http'
import { Buyers, checkAtRest, type Deployment } from '../helpers/live-sale'
import { waitFor } from '../helpers/pg'
import { ADMIN_TOKEN, CLI, type Server, startServer } from '../helpers/server'

/**
 * Stock changed while a sale sells (POST /api/v1/sales/:id/stock) on a real node of 2 workers,
 * buyers asking all along: a top-up of a sold-out sale sells exactly its units, and removes
 * racing purchases never take the stock below what is sold. PostgreSQL is the judge.
 */

function deployment(srv: Server): Deployment {
  return { port: srv.port, prefix: srv.prefix, redis: srv.redis, pg: srv.pg.pool }
}

async function ordersInPg(srv: Server, saleId: string): Promise<number> {
  const r = await srv.pg.pool.query(
    "SELECT count(*)::int AS n FROM orders WHERE sale_id = $1 AND status = 'reserved'",
    [saleId],
  )
  return r.rows[0].n
}

async function stockInPgSales(srv: Server, saleId: string): Promise<number | null> {
  const r = await srv.pg.pool.query('SELECT stock::int AS stock FROM sales WHERE sale_id = $1', [
    saleId,
  ])
  return r.rows[0]?.stock ?? null
}

/** `seckill sale ...` against the node, with the admin token in its environment. */
function seckillSale(srv: Server, ...args: string[]) {
  const r = spawnSync(
    process.execPath,
    [CLI, 'sale', ...args, '--url', `http://127.0.0.1:${srv.port}`],
    {
      env: { ...process.env, SECKILL_ADMIN_TOKEN: ADMIN_TOKEN },
      encoding: 'utf8',
      timeout: 20000,
    },
  )
  return { code: r.status, out: r.stdout, err: r.stderr }
}

t.test(
  'a sold-out sale topped up by 100 while buyers keep asking sells exactly 100 more',
  async (t) => {
    const srv = await startServer(t, { workers: 2 })
    await srv.sale('refill', { stock: 50, perUserLimit: 1 })
    const buyers = new Buyers({ port: srv.port, saleId: 'refill' })
    buyers.start()
    try {
      await waitFor('the 50 units to sell', async () => (await srv.state('refill')).sold === 50)
      await waitFor(
        'the 50 orders in PostgreSQL',
        async () => (await ordersInPg(srv, 'refill')) === 50,
      )
      // Both workers refuse from memory now: later buyers are told sold_out.
      const seen = buyers.answers.length
      await waitFor('buyers to be refused as sold out', () =>
        buyers.answers.slice(seen).some((a) => a.told === 'refused' && a.body.includes('sold_out')),
      )

      const r = await srv.admin('POST', '/api/v1/sales/refill/stock', { add: 100 })
      t.equal(r.status, 200, 'the top-up is accepted')
      t.equal(r.json.stock, 150, 'it answers the sale with the new stock')
      t.ok(r.json.sold >= 50, `and what is sold by then (${r.json.sold})`)
      t.ok(r.json.state === 'open' || r.json.state === 'sold_out', `state ${r.json.state}`)

      await waitFor(
        'the 100 new units to sell',
        async () => (await srv.state('refill')).sold === 150,
      )
      // A while more of buyers asking: nothing may sell past the new stock.
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      await buyers.stop()
    }

    await checkAtRest(t, deployment(srv), 'refill', buyers, 150)
    t.equal(await ordersInPg(srv, 'refill'), 150, 'PostgreSQL holds exactly 100 orders more')
    t.equal(buyers.count('won'), 150, 'exactly 150 buyers were told they won, 100 after the top-up')
    const st = await srv.state('refill')
    t.equal(st.sold, 150, 'Redis sold = the new stock')
    t.equal(st.stock, 150)
    const view = await srv.http.request('GET', '/api/v1/sales/refill')
    t.match(view.json, { stock: 150, sold: 150, remaining: 0, state: 'sold_out' })
    await waitFor(
      'the sales table to follow',
      async () => (await stockInPgSales(srv, 'refill')) === 150,
    )
    t.equal(
      await stockInPgSales(srv, 'refill'),
      150,
      "PostgreSQL's copy of the sale has the new stock",
    )
  },
)

t.test(
  'removes racing purchases never take the stock below sold; the late ones are refused',
  async (t) => {
    const srv = await startServer(t, { workers: 2 })
    await srv.sale('race', { stock: 200, perUserLimit: 1 })
    const buyers = new Buyers({ port: srv.port, saleId: 'race' })
    const removes: { status: number; error?: string; detail?: string }[] = []
    const samples: { stock: number; sold: number }[] = []
    buyers.start()
    try {
      // Some units sold first: then the 40 removes of 5 (200 units) cannot all fit.
      await waitFor('the first units to sell', async () => (await srv.state('race')).sold >= 10)
      let racing = true
      const sampler = (async () => {
        while (racing) {
          const [stock, sold] = await srv.redis.hmget(`${srv.prefix}{race}:sale`, 'stock', 'sold')
          samples.push({ stock: Number(stock), sold: Number(sold) })
          await new Promise((resolve) => setTimeout(resolve, 5))
        }
      })()
      const replies = await pool(40, 4, async () => {
        const r = await srv.admin('POST', '/api/v1/sales/race/stock', { remove: 5 })
        await new Promise((resolve) => setTimeout(resolve, 10))
        return r
      })
      racing = false
      await sampler
      for (const r of replies) {
        removes.push({ status: r.status, error: r.json?.error, detail: r.json?.detail })
      }
      await new Promise((resolve) => setTimeout(resolve, 300))
    } finally {
      await buyers.stop()
    }

    const accepted = removes.filter((r) => r.status === 200).length
    const conflicts = removes.filter((r) => r.status === 409 && r.error === 'stock_conflict')
    t.equal(
      accepted + conflicts.length,
      40,
      'every remove was accepted or refused as stock_conflict',
    )
    t.ok(conflicts.length > 0, `${conflicts.length} removes were refused: they did not fit`)
    t.ok(
      conflicts.every((r) => /at most \d+ can be removed/.test(r.detail ?? '')),
      'each refusal says how many units could be removed',
    )
    t.ok(samples.length > 10, `${samples.length} samples of Redis taken during the race`)
    t.same(
      samples.filter((s) => s.stock < s.sold),
      [],
      'no sample of Redis ever showed the stock below sold',
    )
    const st = await srv.state('race')
    t.equal(st.stock, 200 - 5 * accepted, 'each accepted remove took exactly its 5 units')
    t.ok(st.stock >= st.sold, `at the end stock ${st.stock} >= sold ${st.sold}`)
    await checkAtRest(t, deployment(srv), 'race', buyers, st.stock)
    t.equal(await ordersInPg(srv, 'race'), st.sold, 'PostgreSQL orders = sold')
    await waitFor(
      'the sales table to follow',
      async () => (await stockInPgSales(srv, 'race')) === st.stock,
    )

    // The command line says the same: too much is exit 1 with the API's error, the rest is done.
    const unsold = st.stock - st.sold
    const tooMuch = seckillSale(srv, 'stock', 'race', '--remove', String(unsold + 1))
    t.equal(tooMuch.code, 1, 'seckill sale stock --remove past what is unsold: exit 1')
    t.match(tooMuch.err, new RegExp(`409 stock_conflict: .*at most ${unsold} can be removed`))
    const added = seckillSale(srv, 'stock', 'race', '--add', '7', '--json')
    t.equal(added.code, 0, 'seckill sale stock --add: exit 0')
    t.match(JSON.parse(added.out), { id: 'race', stock: st.stock + 7 })
    t.equal((await srv.state('race')).stock, st.stock + 7, 'and Redis has it')
  },
)
