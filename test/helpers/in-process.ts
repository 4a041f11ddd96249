import { loadConfig } from '../../src/config'
import { migrate } from '../../src/db/migrations'
import type { Channel, ToPrimary, ToWorker } from '../../src/ipc'
import { readSale } from '../../src/sale/sale-store'
import { startWorker } from '../../src/worker/start-worker'
import { type Client, client } from './http'
import { DATABASE_URL, freshSchema } from './pg'
import { freshPrefix, openRedis, type Teardown, type TestRedis } from './redis'
import { type SaleApi, saleApi } from './sale-api'
import { ADMIN_TOKEN, freePort } from './server'

/**
 * One uWS worker started inside the test's own process (`startWorker`), with a channel of the
 * test's own playing the primary: it grants the quota a worker asks for (quota only filters:
 * reserve-6.lua still decides every sale, against the real Redis), re-reads a sale an admin
 * route changed and sends it back, and answers /metrics with a fixed text. No fork, no
 * cluster: a route test takes milliseconds to start, and its worker's state can be looked at.
 */
export const NODE_METRICS = '# in-process test: no primary\n'

export interface InProcess extends SaleApi {
  readonly port: number
  readonly prefix: string
  readonly http: Client
  readonly redis: TestRedis
  /** every message the worker sent to its (fake) primary */
  readonly sent: ToPrimary[]
}

export async function startInProcess(
  t: Teardown,
  env: Record<string, string> = {},
): Promise<InProcess> {
  const redis = openRedis(t)
  const prefix = freshPrefix(t, redis)
  const pg = freshSchema(t)
  await migrate(pg.pool, pg.schema)
  const config = loadConfig({
    ...process.env,
    PORT: String(await freePort()),
    HOST: '127.0.0.1',
    REDIS_PREFIX: prefix,
    DATABASE_URL,
    PG_SCHEMA: pg.schema,
    SECKILL_ADMIN_TOKEN: ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
    ...env,
  })
  const sent: ToPrimary[] = []
  let toWorker: (msg: ToWorker) => void = () => {}
  // Delivered on a later turn, as IPC is: a handler never sees its own message answered inline.
  const deliver = (msg: ToWorker) => setImmediate(() => toWorker(structuredClone(msg)))
  const channel: Channel<ToPrimary, ToWorker> = {
    send(msg) {
      sent.push(msg)
      playPrimary(msg)
    },
    listen(onMessage) {
      toWorker = onMessage
    },
  }
  function playPrimary(msg: ToPrimary): void {
    if (msg.t === 'need') {
      deliver({ t: 'grant', saleId: msg.saleId, units: 100, soldOut: false, returned: 0 })
    } else if (msg.t === 'metrics') {
      deliver({ t: 'answer', ask: msg.ask, value: NODE_METRICS })
    } else if (msg.t === 'changed') {
      readSale(redis, prefix, msg.saleId).then((sale) => {
        if (sale) deliver({ t: 'sale', sale, clockOffsetMs: 0 })
        deliver({ t: 'answer', ask: msg.ask })
      })
    }
  }
  const worker = await startWorker(config, channel)
  const http = client(worker.port)
  t.teardown(async () => {
    http.close()
    await worker.close()
  })
  return {
    ...saleApi(http, redis, prefix),
    port: worker.port,
    prefix,
    http,
    redis,
    sent,
  }
}
