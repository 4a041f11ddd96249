import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { type Config, loadConfig } from '../src/config'
import { configSources, type Origin } from '../src/config-file'
import { redactPgUrl } from '../src/db/pg'
import { redactUrl } from '../src/store/redis'

/**
 * What a node starts with: its command line (`--config FILE`), the configuration's sources
 * (environment over file over defaults) and, when SECKILL_ADMIN_TOKEN is set nowhere, a token
 * generated for this run. Throws with a line for the operator when any of it is wrong.
 */
export interface NodeConfig {
  readonly config: Config
  /** what the workers are forked with: the merged sources, the token included */
  readonly env: NodeJS.ProcessEnv
  /** the config file read, or null */
  readonly file: string | null
  /** the admin token made for this run, or null when one was configured */
  readonly generatedToken: string | null
  /** where a variable's value came from: a default was given by nobody */
  origin(name: string): Origin
}

export function readNodeConfig(argv: string[], processEnv: NodeJS.ProcessEnv): NodeConfig {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' } } })
  const sources = configSources(processEnv, values.config)
  const generatedToken = sources.env.SECKILL_ADMIN_TOKEN
    ? null
    : randomBytes(24).toString('base64url')
  const env = generatedToken ? { ...sources.env, SECKILL_ADMIN_TOKEN: generatedToken } : sources.env
  return {
    config: loadConfig(env),
    env,
    file: sources.file,
    generatedToken,
    origin: sources.origin,
  }
}

/**
 * The same node with the addresses of its stores settled (the local services it started): the
 * primary's configuration and the workers' environment both carry them.
 */
export function withStores(
  n: NodeConfig,
  stores: { readonly REDIS_URL?: string; readonly DATABASE_URL?: string },
): NodeConfig {
  const env = { ...n.env, ...stores }
  return { ...n, env, config: loadConfig(env) }
}

/** The data directories of the stores the node started itself (cluster/local-services.ts). */
export interface LocalStores {
  readonly redisDir?: string
  readonly pgDir?: string
}

/** The one line a person reads when the node serves (stderr; the JSON log says it too). */
export function startLine(n: NodeConfig, local: LocalStores = {}): string {
  const { HOST, PORT, WORKERS, REDIS_URL, DATABASE_URL, PG_SCHEMA } = n.config
  const host = HOST === '0.0.0.0' ? 'localhost' : HOST
  const redis = local.redisDir
    ? `local Redis ${redactUrl(REDIS_URL)}, data in ${local.redisDir}`
    : `Redis ${redactUrl(REDIS_URL)}`
  const pg = local.pgDir
    ? `local PostgreSQL ${redactPgUrl(DATABASE_URL)}, data in ${local.pgDir}, schema ${PG_SCHEMA}`
    : `PostgreSQL schema ${PG_SCHEMA}`
  const lines = [
    `seckill: serving on http://${host}:${PORT} with ${WORKERS} workers ` +
      `(${redis}; ${pg}${n.file ? `; config ${n.file}` : ''})`,
  ]
  if (n.generatedToken) {
    lines.push(`seckill: admin token, generated for this run: ${n.generatedToken}`)
  }
  return `${lines.join('\n')}\n`
}
