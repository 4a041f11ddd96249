import type { Pool } from 'pg'
import type { StoreConfig } from '../config'
import { checkPg } from '../db/pg'
import { type RestoreOutcome, restoreSale } from '../sale/restore-sale'
import { saleIdsInPg } from '../sale/sale-sql'
import { checkRedisPolicy, connectRedis } from '../store/redis'

/**
 * `seckill restore (--sale ID... | --all) [--merge] [--chunk N] [--json]`: rebuild sales Redis
 * lost from PostgreSQL (src/sale/restore-sale.ts) and say what was restored and how to reopen.
 * Exit codes: 0 done; 1 a named sale was left alone (it exists in Redis, or PostgreSQL has no
 * definition of it); 2 a usage or store error.
 */
export interface RestoreArgs {
  readonly sales: readonly string[]
  readonly all: boolean
  readonly merge: boolean
  readonly chunk: number
  readonly json: boolean
}

function startCommand(saleId: string): string {
  const port = process.env.PORT ?? '3005'
  return (
    `curl -XPOST localhost:${port}/api/v1/sales/${encodeURIComponent(saleId)}/start ` +
    `-H "Authorization: Bearer $SECKILL_ADMIN_TOKEN"`
  )
}

function describe(r: RestoreOutcome): string {
  switch (r.kind) {
    case 'exists':
      return (
        `sale ${r.saleId}: exists in Redis (sold ${r.sold} of ${r.stock}); not restored. ` +
        `\`seckill reconcile --sale ${r.saleId}\` compares it with PostgreSQL; ` +
        `\`seckill restore --sale ${r.saleId} --merge\` adds the orders PostgreSQL has and ` +
        'Redis lacks (it never lowers sold below what PostgreSQL holds)'
      )
    case 'no_definition':
      return (
        `sale ${r.saleId}: PostgreSQL has no definition of it (table sales)` +
        `${r.hasOrders ? ', though it holds orders of it' : ' and no orders'}; not restored`
      )
    case 'merged':
    case 'restored': {
      const c = r.counts
      const a = r.after
      const statuses = Object.entries(c.byStatus)
        .filter(([, n]) => n > 0)
        .map(([s, n]) => `${n} ${s}`)
        .join(', ')
      const lines = [
        `sale ${r.saleId}: ${r.kind === 'merged' ? 'merged' : 'restored'} from PostgreSQL` +
          `${r.kind === 'restored' && r.resumed ? ' (an unfinished restore, now finished)' : ''}: ` +
          `${c.added + c.advanced + c.kept} orders${statuses ? ` (${statuses})` : ''} in ` +
          `${c.calls} call${c.calls === 1 ? '' : 's'}` +
          (r.kind === 'merged'
            ? `: ${c.added} added, ${c.advanced} moved out of reserved, ${c.kept} kept as Redis had them`
            : ''),
        `  Redis now: sold ${a.sold} of ${a.stock}, ${a.orders} orders, ${a.users} users holding ` +
          `units, ${a.idempotencyKeys} idempotency keys, ${a.deadlines} payment deadlines`,
      ]
      if (a.sold > a.stock) {
        lines.push(
          `  warning: PostgreSQL holds ${a.sold} reserved and paid units, more than the stock of ` +
            `${a.stock}: units were oversold before this restore`,
        )
      }
      if (r.kind === 'merged') {
        lines.push('  the sale was left open or closed as it was')
      } else if (r.definition.closed) {
        lines.push(
          '  closed, as PostgreSQL has it: its orders can be paid, cancelled and replayed; it ' +
            'cannot be started again',
        )
      } else {
        if (r.definition.startsAt !== null) {
          lines.push(
            `  its start time ${new Date(r.definition.startsAt).toISOString()} was not ` +
              'restored: it opens only when started',
          )
        }
        lines.push(
          `  not started: buyers are refused until you start it: ${startCommand(r.saleId)}`,
        )
      }
      return lines.join('\n')
    }
  }
}

/** The sales to restore: --all is every sale PostgreSQL has a definition of. */
async function saleIds(pg: Pool, a: RestoreArgs): Promise<string[]> {
  if (!a.all) return [...a.sales]
  try {
    return await saleIdsInPg(pg)
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') {
      throw new Error('PostgreSQL has no sales table: run `seckill migrate` (or start a node)')
    }
    throw err
  }
}

export async function restoreCommand(
  config: StoreConfig,
  pg: Pool,
  a: RestoreArgs,
): Promise<number> {
  if (a.all === a.sales.length > 0) {
    throw new Error('usage: seckill restore (--sale ID... | --all) [--merge] [--chunk N] [--json]')
  }
  if (!Number.isInteger(a.chunk) || a.chunk < 1 || a.chunk > 1000) {
    throw new Error('--chunk must be an integer 1..1000 (orders per Redis call)')
  }
  await checkPg(pg, config.DATABASE_URL)
  const redis = await connectRedis(config, 'seckill-cli', config.REDIS_TIMEOUT_MS)
  try {
    // An evicting Redis would lose restored counters again; a script that does not load fails
    // here, before anything is written.
    await checkRedisPolicy(redis)
    let left = 0
    const out: RestoreOutcome[] = []
    for (const id of await saleIds(pg, a)) {
      const r = await restoreSale(redis, pg, config.REDIS_PREFIX, id, {
        merge: a.merge,
        chunk: a.chunk,
      })
      // With --all most sales exist in Redis: those are left alone, and that is no failure.
      if (r.kind === 'no_definition' || (r.kind === 'exists' && !a.all)) left++
      if (a.json) out.push(r)
      else process.stdout.write(`${describe(r)}\n`)
    }
    if (a.json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
    return left === 0 ? 0 : 1
  } finally {
    redis.disconnect()
  }
}
