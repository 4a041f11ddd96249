import type { Pool } from 'pg'
import type { StoreConfig } from '../config'
import { migrate } from '../db/migrations'
import { checkPg, createPool, pgOptionsOf } from '../db/pg'
import { auditSale, type DriftReport, driftKinds, hasDrift, repairSale } from '../orders/reconcile'
import { RESTORE_CHUNK } from '../sale/restore-sale'
import { saleIdsInPg } from '../sale/sale-sql'
import { listSaleIds } from '../sale/sale-store'
import { connectRedis } from '../store/redis'
import type { RedisClient } from '../store/redis-client'
import { restoreCommand } from './restore-command'

/** The commands that work on the stores themselves, no node needed: migrate, reconcile, restore. */
function openPg(config: StoreConfig) {
  return createPool(pgOptionsOf(config, 'seckill-cli', 2))
}

function summary(r: DriftReport): string {
  if (r.saleMissingInRedis) {
    return (
      `sale ${r.saleId}: not in Redis (Redis lost its data?); skipped. ` +
      `\`seckill restore --sale ${r.saleId}\` rebuilds it from PostgreSQL`
    )
  }
  const kinds = Object.entries(driftKinds(r))
    .filter(([, n]) => n !== 0)
    .map(([k, n]) => `${k}=${n}`)
  return `sale ${r.saleId}: ${kinds.length ? kinds.join(' ') : 'no drift'} (in flight: ${r.inFlight})`
}

/**
 * Every sale Redis or PostgreSQL knows: a Redis that lost its data has lost its index of sales
 * too, and those are exactly the sales to report.
 */
async function everySale(redis: RedisClient, pg: Pool, prefix: string): Promise<string[]> {
  const ids = new Set(await listSaleIds(redis, prefix))
  try {
    for (const id of await saleIdsInPg(pg)) ids.add(id)
  } catch (err) {
    // No sales table yet (a schema from before it): Redis's index is all there is.
    if ((err as { code?: string }).code !== '42P01') throw err
  }
  return [...ids].sort()
}

export async function reconcileCommand(
  config: StoreConfig,
  sales: string[],
  repair: boolean,
  json: boolean,
) {
  const redis = await connectRedis(config, 'seckill-cli', config.REDIS_TIMEOUT_MS)
  const pg = openPg(config)
  try {
    await checkPg(pg, config.DATABASE_URL)
    const ids = sales.length > 0 ? sales : await everySale(redis, pg, config.REDIS_PREFIX)
    let left = 0
    const out: unknown[] = []
    for (const id of ids) {
      const report = await auditSale(redis, pg, config.REDIS_PREFIX, id)
      const drift = hasDrift(report)
      const repaired =
        drift && repair ? await repairSale(redis, pg, config.REDIS_PREFIX, report) : null
      const after = repaired ? await auditSale(redis, pg, config.REDIS_PREFIX, id) : report
      if (hasDrift(after)) left++
      if (json) out.push({ report, repaired, after: repaired ? after : undefined })
      else {
        process.stdout.write(`${summary(report)}\n`)
        if (repaired) {
          process.stdout.write(
            `  repaired: inserted ${repaired.inserted}, overwrote ${repaired.overwritten}, ` +
              `deleted ${repaired.deleted}` +
              (repaired.recount
                ? `, sold ${repaired.recount[0]} -> ${repaired.recount[1]}, users fixed ${repaired.recount[2]}`
                : '') +
              `\n  after: ${summary(after)}\n`,
          )
        }
      }
    }
    if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
    return left === 0 ? 0 : 1
  } finally {
    redis.disconnect()
    await pg.end()
  }
}

export async function migrateCommand(config: StoreConfig): Promise<number> {
  const pg = openPg(config)
  try {
    await checkPg(pg, config.DATABASE_URL)
    const applied = await migrate(pg, config.PG_SCHEMA)
    process.stdout.write(
      applied.length ? `applied migrations ${applied.join(', ')}\n` : 'schema is up to date\n',
    )
    return 0
  } finally {
    await pg.end()
  }
}

export interface RestoreArgs {
  readonly sales: string[]
  readonly all: boolean
  readonly merge: boolean
  /** undefined when not given: the default chunk */
  readonly chunk: number | undefined
  readonly json: boolean
}

export async function restoreCommandOf(config: StoreConfig, a: RestoreArgs): Promise<number> {
  const pg = openPg(config)
  try {
    return await restoreCommand(config, pg, {
      ...a,
      chunk: a.chunk ?? RESTORE_CHUNK,
    })
  } finally {
    await pg.end()
  }
}
