import { type Child, launchNode } from './spawn'
import type { Teardown } from './teardown'

/**
 * The servers the tests and the benchmarks start from the build (dist/): a seckill node and the
 * bare uWS baseline (bench/bare-uws.ts), on 127.0.0.1 and a port of the caller's choosing.
 */

/** The admin token every server started here accepts. */
export const ADMIN_TOKEN = 'harness-admin-token-0123456789'

/** A cold start of a node (Redis, PostgreSQL, migrations, forks) is well under a second. */
const READY_MS = 20_000

/**
 * `node dist/<script>` serving on 127.0.0.1:`port` with `workers` processes and `env`; resolves
 * once it prints `ready`; rejects with what it printed if it exits first or is not ready in
 * time (and then it is killed).
 */
export async function start(
  script: string,
  port: number,
  workers: number,
  env: Record<string, string>,
  ready: string,
  root?: string,
): Promise<Child> {
  const c = launchNode(
    script,
    {
      PORT: String(port),
      HOST: '127.0.0.1',
      WORKERS: String(workers),
      SECKILL_ADMIN_TOKEN: ADMIN_TOKEN,
      LOG_LEVEL: 'info',
      // A node under test or benchmark is told where its stores are; should a store be left out,
      // it fails as it says rather than start a Redis or PostgreSQL of its own in the checkout.
      LOCAL_SERVICES: 'off',
      ...env,
    },
    [],
    root,
  )
  await c.printed(ready, READY_MS)
  return c
}

/** SIGTERM a server and wait until it has exited. */
export async function stop(c: Child): Promise<void> {
  await c.stop()
}

export interface ServeOptions {
  readonly port: number
  /** processes (default 2: the machines this runs on have 2 cores) */
  readonly workers?: number
  readonly env?: Record<string, string>
  /** a built checkout to run instead of this one (comparing with an older version) */
  readonly root?: string
}

/** A seckill node (dist/cluster/primary.js), stopped at teardown. */
export async function startSeckill(t: Teardown, o: ServeOptions): Promise<Child> {
  const c = await start('cluster/primary.js', o.port, o.workers ?? 2, o.env ?? {}, SERVING, o.root)
  t.teardown(() => c.stop())
  return c
}

/** What a node prints once every worker takes traffic. */
export const SERVING = 'seckill is serving'

/** The bare uWS baseline answering every request with `body` (its default: a refusal). */
export async function startBareUws(
  t: Teardown,
  o: ServeOptions & { readonly body?: string },
): Promise<Child> {
  const env = { ...o.env, ...(o.body === undefined ? {} : { BARE_BODY: o.body }) }
  const c = await start('bench/bare-uws.js', o.port, o.workers ?? 2, env, 'bare uWS serving')
  t.teardown(() => c.stop())
  return c
}
