import type { RunConfig } from '../config'
import { askNode, ControlError } from '../control/client'
import { runFiles } from '../control/run-files'
import { NOT_RUNNING } from './node-commands'

/**
 * `seckill sale create|start|close|stock|show`: the admin API of API.md for scripts, on the node this
 * configuration names (http://HOST:PORT, or --url). The admin token is SECKILL_ADMIN_TOKEN when
 * configured; otherwise the node is asked for it over its control socket (it generated one).
 */
export interface SaleArgs {
  readonly action: string | undefined
  readonly id: string | undefined
  readonly name?: string
  readonly stock?: string
  readonly perUserLimit?: string
  readonly startsAt?: string
  readonly endsAt?: string
  readonly paymentTtl?: string
  /** `stock`: units to add, or to remove (exactly one of the two) */
  readonly add?: string
  readonly remove?: string
  readonly url?: string
  readonly json: boolean
}

/** Thrown for a command line that cannot be right: exit 2 before anything is asked. */
export class UsageError extends Error {}

const ACTIONS = ['create', 'start', 'close', 'stock', 'show'] as const
const CALL_TIMEOUT_MS = 15_000

function count(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (!/^[0-9]{1,10}$/.test(text))
    throw new UsageError(`--${name} takes a whole number, not "${text}"`)
  return Number(text)
}

/** The request an action makes; bad usage throws before anything is sent. */
export function saleRequest(a: SaleArgs): { method: string; path: string; body?: object } {
  if (!ACTIONS.includes(a.action as (typeof ACTIONS)[number])) {
    throw new UsageError(
      `seckill sale takes one of ${ACTIONS.join(', ')}${a.action ? `, not "${a.action}"` : ''}`,
    )
  }
  if (a.id === undefined) throw new UsageError(`seckill sale ${a.action} needs a sale id`)
  const path = `/api/v1/sales/${encodeURIComponent(a.id)}`
  switch (a.action) {
    case 'create': {
      const stock = count('stock', a.stock)
      if (stock === undefined) throw new UsageError('seckill sale create needs --stock N')
      const body: Record<string, unknown> = { id: a.id, name: a.name ?? a.id, stock }
      const limit = count('per-user-limit', a.perUserLimit)
      const ttl = count('payment-ttl', a.paymentTtl)
      if (limit !== undefined) body.perUserLimit = limit
      if (ttl !== undefined) body.paymentTtlSeconds = ttl
      if (a.startsAt !== undefined) body.startsAt = a.startsAt
      if (a.endsAt !== undefined) body.endsAt = a.endsAt
      return { method: 'POST', path: '/api/v1/sales', body }
    }
    case 'start':
    case 'close':
      return { method: 'POST', path: `${path}/${a.action}` }
    case 'stock': {
      const add = count('add', a.add)
      const remove = count('remove', a.remove)
      if ((add === undefined) === (remove === undefined)) {
        throw new UsageError('seckill sale stock needs one of --add N and --remove N')
      }
      const body = add === undefined ? { remove } : { add }
      return { method: 'POST', path: `${path}/stock`, body }
    }
    default:
      return { method: 'GET', path }
  }
}

export async function saleCommand(
  run: RunConfig,
  token: string | undefined,
  a: SaleArgs,
): Promise<number> {
  const req = saleRequest(a)
  const host = run.HOST === '0.0.0.0' ? '127.0.0.1' : run.HOST
  const base = a.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${run.PORT}`
  let bearer = token
  if (bearer === undefined && req.method === 'POST') {
    try {
      bearer = await askNode<string>(runFiles(run).socket, { cmd: 'token' }, 5000)
    } catch (err) {
      const gone = err instanceof ControlError && err.code === 'not_running'
      process.stderr.write(
        `seckill: SECKILL_ADMIN_TOKEN is not set and no node answers on port ${run.PORT} ` +
          `to give its own (${(err as Error).message})\n`,
      )
      return gone ? NOT_RUNNING : 1
    }
  }
  let res: Response
  try {
    res = await fetch(`${base}${req.path}`, {
      method: req.method,
      headers: {
        'content-type': 'application/json',
        ...(bearer === undefined ? {} : { authorization: `Bearer ${bearer}` }),
      },
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    })
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message
    process.stderr.write(`seckill: no node answers at ${base} (${cause})\n`)
    return cause === 'ECONNREFUSED' ? NOT_RUNNING : 1
  }
  const text = await res.text()
  if (!res.ok) {
    let why = text
    try {
      const e = JSON.parse(text) as { error?: string; detail?: string }
      why = `${e.error}: ${e.detail}`
    } catch {}
    process.stderr.write(`seckill: ${req.method} ${req.path}: ${res.status} ${why}\n`)
    return 1
  }
  const sale = JSON.parse(text) as Record<string, unknown>
  process.stdout.write(a.json ? `${text}\n` : describe(sale))
  return 0
}

function describe(s: Record<string, unknown>): string {
  return (
    `sale ${s.id} "${s.name}": ${s.state}, stock ${s.stock}, sold ${s.sold}, ` +
    `remaining ${s.remaining}, per user ${s.perUserLimit}, starts ${s.startsAt ?? 'by hand'}, ` +
    `ends ${s.endsAt ?? 'never'}, payment within ${s.paymentTtlSeconds} s\n`
  )
}
