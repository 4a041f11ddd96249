import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { ROOT } from './harness/spawn'
import { DEFAULT_SCENARIOS, type Knobs, SCENARIOS, type ScenarioName } from './scenarios'

/** The benchmark runner's command line, read and validated once into a frozen object. */

// One nginx worker in front of each server in the ab scenarios. The shipped config's `auto` (one
// per core) suits a host that does nothing else; here the same 2 cores also run ab (one process,
// near a full core), the server's workers, Redis and PostgreSQL. In four alternated runs of
// `--scenario ab,ab-k --go-reference` on 2 shared cores, 1 worker gave the higher ab rate in every
// pair for both the baseline and seckill without -k (the article's command); with -k it was mixed.
const NGINX_WORKERS = 1
export const USAGE = `usage: npm run bench -- [options]

  --scenario LIST    comma-separated, or repeated: ${SCENARIOS.join(', ')} (default: all
                     but nodes, which runs the storm through nginx over 1, 2 and 3 nodes,
                     and page, the product page's state JSON polled)
  --quick            small and short runs (CI): 2 s instead of 10 s, storm of 20,000 for 1,000
  --tool NAME        auto (wrk when installed, else autocannon), wrk or autocannon
  --target URL       also load this server (e.g. the Go reference: http://127.0.0.1:3005)
  --go-reference     also load bench/go-reference (the article's Go server), started per
                     scenario with the scenario's stock (needs golang-go and redigo from Debian)
  --workers N        seckill workers and baseline processes (default: cores)
  --connections N    connections (default: 100; close and latency 50); ab's -c
  --duration S       seconds of the duration scenarios (default 10, quick 2)
  --rate N           requests per second of the latency scenario (default 5000, quick 1000)
  --requests N       requests of seed and ab (default 10000; quick: ab 2000), storm
                     (default 1000000) and nodes (300000)
  --stock N          units of seed and ab (150), storm and nodes (10000), sell and latency (1e9)
  --nginx-workers N  nginx worker processes in front of each server in ab, ab-k and nodes
                     (default 1)
  --threads N        wrk threads (default 1: the servers need the other core)
  --port N           port of the baseline and seckill (default 3071)
  --redis URL        default redis://127.0.0.1:6379
  --database URL     default postgres://postgres@127.0.0.1:5432/test
  --out DIR          where the JSON and HTML reports go (default bench/results)
  --env K=V          extra environment for seckill, repeatable (e.g. RESERVE_MODE=piscina)
  --no-baseline      skip the bare uWS baseline
  --dashboard        keep a live dashboard connected to seckill during each scenario's load
                     (GET /api/v1/dashboard/events): run a scenario with and without it to see
                     what an open dashboard costs, e.g. --scenario refuse [--dashboard]
`

export interface BenchOptions extends Knobs {
  readonly scenarios: readonly ScenarioName[]
  /** the scenarios were named with --scenario (not the default: all) */
  readonly named: boolean
  readonly tool: 'auto' | 'wrk' | 'autocannon'
  readonly target: string | null
  readonly goReference: boolean
  readonly workers: number
  /** nginx's worker processes in the ab scenarios */
  readonly nginxWorkers: number
  readonly threads: number
  readonly port: number
  readonly redis: string
  readonly database: string
  readonly out: string
  readonly baseline: boolean
  /** a dashboard push connection held open on seckill during the load */
  readonly dashboard: boolean
  /** extra environment for seckill */
  readonly env: Readonly<Record<string, string>>
}

const count = (name: string, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `--${name} must be a whole number`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `--${name} must be between 1 and ${max}`)

const schema = z.object({
  scenario: z
    .array(z.string())
    .optional()
    .transform((xs) =>
      xs?.length ? xs.flatMap((x) => x.split(',')).filter(Boolean) : [...DEFAULT_SCENARIOS],
    )
    .pipe(
      z.array(
        z.enum(SCENARIOS, {
          error: (i) => `--scenario: unknown "${String(i.input)}"; one of ${SCENARIOS.join(', ')}`,
        }),
      ),
    ),
  quick: z.boolean().default(false),
  tool: z
    .enum(['auto', 'wrk', 'autocannon'], { error: '--tool must be auto, wrk or autocannon' })
    .default('auto'),
  target: z
    .url({
      protocol: /^https?$/,
      error: '--target must be an http:// URL, e.g. http://127.0.0.1:3005',
    })
    .transform((u) => new URL(u).origin)
    .optional(),
  workers: count('workers', 64).optional(),
  connections: count('connections', 10_000).optional(),
  duration: count('duration', 3_600).optional(),
  rate: count('rate', 1_000_000).optional(),
  requests: count('requests', 100_000_000).optional(),
  stock: count('stock', 1_000_000_000).optional(),
  threads: count('threads', 64).optional(),
  'nginx-workers': count('nginx-workers', 64).optional(),
  port: count('port', 65_535).optional(),
  redis: z.string().default('redis://127.0.0.1:6379'),
  database: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
  out: z.string().default(join(ROOT, 'bench', 'results')),
  'no-baseline': z.boolean().default(false),
  'go-reference': z.boolean().default(false),
  dashboard: z.boolean().default(false),
  env: z
    .array(
      z.string().regex(/^[A-Z][A-Z0-9_]*=/, '--env must be NAME=value, e.g. RESERVE_MODE=piscina'),
    )
    .default([]),
})

/** Parse argv; throws an Error whose message is fit to print above the usage. */
export function readOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      scenario: { type: 'string', multiple: true },
      quick: { type: 'boolean' },
      tool: { type: 'string' },
      target: { type: 'string' },
      workers: { type: 'string' },
      connections: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      requests: { type: 'string' },
      stock: { type: 'string' },
      threads: { type: 'string' },
      'nginx-workers': { type: 'string' },
      port: { type: 'string' },
      redis: { type: 'string' },
      database: { type: 'string' },
      out: { type: 'string' },
      'no-baseline': { type: 'boolean' },
      'go-reference': { type: 'boolean' },
      dashboard: { type: 'boolean' },
      env: { type: 'string', multiple: true },
    },
  })
  const parsed = schema.safeParse(values)
  if (!parsed.success) throw new Error(parsed.error.issues.map((i) => i.message).join('\n'))
  const v = parsed.data
  if (v.target && v['go-reference'])
    throw new Error('--target and --go-reference: one target at a time')
  return Object.freeze({
    scenarios: [...new Set(v.scenario)],
    named: values.scenario !== undefined,
    quick: v.quick,
    tool: v.tool,
    target: v.target ?? null,
    goReference: v['go-reference'],
    workers: v.workers ?? availableParallelism(),
    connections: v.connections ?? null,
    duration: v.duration ?? null,
    rate: v.rate ?? null,
    requests: v.requests ?? null,
    stock: v.stock ?? null,
    threads: v.threads ?? 1,
    nginxWorkers: v['nginx-workers'] ?? NGINX_WORKERS,
    port: v.port ?? 3071,
    redis: v.redis,
    database: v.database,
    out: v.out,
    baseline: !v['no-baseline'],
    dashboard: v.dashboard,
    env: Object.freeze(
      Object.fromEntries(
        v.env.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      ),
    ),
  })
}
