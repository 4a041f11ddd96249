import { CONFIG_KEYS, type Config, loadConfig } from '../config'
import type { ConfigSources, Origin } from '../config-file'

/**
 * `seckill config [--config FILE] [--json]`: the configuration a node started here would run
 * with, validated by the same schema, each value with where it came from (environment, file,
 * default). Secrets never leave: tokens are redacted, and so are passwords in URLs.
 */
const SECRETS = new Set(['SECKILL_ADMIN_TOKEN', 'BUYER_JWT_SECRET'])
const URLS = new Set(['REDIS_URL', 'DATABASE_URL'])
/** Stands in for a missing admin token while validating: the node generates one at start. */
const PLACEHOLDER = 'x'.repeat(32)

export interface Shown {
  readonly value: string | number | null
  readonly source: Origin
}

/** A URL with its password (if any) replaced by ***. */
export function redactPassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/, '$1:***@')
}

function shown(name: string, value: unknown, source: Origin): Shown {
  if (value === undefined) return { value: null, source }
  if (SECRETS.has(name)) return { value: '(redacted)', source }
  if (URLS.has(name)) return { value: redactPassword(String(value)), source }
  // An Ed25519 public key read from a file or given as PEM text: public, but many lines long.
  if (name === 'BUYER_JWT_PUBLIC_KEY') return { value: '(an Ed25519 public key)', source }
  return { value: value as string | number, source }
}

/** Every variable, as `seckill config` shows it. Throws ConfigError as the node's start would. */
export function effectiveConfig(sources: ConfigSources): Record<string, Shown> {
  const generated = !sources.env.SECKILL_ADMIN_TOKEN
  const config: Config = loadConfig(
    generated ? { ...sources.env, SECKILL_ADMIN_TOKEN: PLACEHOLDER } : sources.env,
  )
  const out: Record<string, Shown> = {}
  for (const name of CONFIG_KEYS) {
    out[name] = shown(name, config[name as keyof Config], sources.origin(name))
  }
  if (generated) out.SECKILL_ADMIN_TOKEN = { value: '(generated at start)', source: 'default' }
  return out
}

export function configCommand(sources: ConfigSources, json: boolean): number {
  const vars = effectiveConfig(sources)
  if (json) {
    process.stdout.write(`${JSON.stringify({ file: sources.file, variables: vars }, null, 2)}\n`)
    return 0
  }
  const width = Math.max(...Object.keys(vars).map((n) => n.length))
  const lines = [`config file: ${sources.file ?? 'none (environment and defaults only)'}`]
  for (const [name, v] of Object.entries(vars)) {
    lines.push(`${name.padEnd(width)}  ${v.value ?? '(unset)'}  [${v.source}]`)
  }
  process.stdout.write(`${lines.join('\n')}\n`)
  return 0
}
