import { existsSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { CONFIG_KEYS, ConfigError } from './config'

/**
 * Where the configuration comes from: the environment over a JSON file over the defaults. The
 * file (`--config PATH`, else SECKILL_CONFIG, else ./seckill.config.json when there is one) is an
 * object whose keys are the variables of the README's configuration table, e.g.
 * `{"PORT": 3005, "REDIS_URL": "redis://10.0.0.7:6379"}`; the same schema validates both. The
 * result is one environment, which the primary also hands to its workers, so no process reads
 * the file but the one that started the node.
 */
export const DEFAULT_CONFIG_FILE = 'seckill.config.json'

export type Origin = 'env' | 'file' | 'default'

export interface ConfigSources {
  /** what the schema reads: the file's values with the process environment over them */
  readonly env: NodeJS.ProcessEnv
  /** the file read (absolute), or null when there was none */
  readonly file: string | null
  /** where each variable's value comes from */
  origin(name: string): Origin
}

/** The file's variables as the strings an environment holds; throws ConfigError naming the fault. */
export function parseConfigFile(text: string, path: string): Record<string, string> {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new ConfigError(`config file ${path}: not JSON (${(err as Error).message})`)
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`config file ${path}: must be a JSON object of variables`)
  }
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(data)) {
    if (!CONFIG_KEYS.includes(name)) {
      throw new ConfigError(
        `config file ${path}: unknown variable ${name} (see the README's table)`,
      )
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ConfigError(`config file ${path}: ${name} must be a string, number or boolean`)
    }
    out[name] = String(value)
  }
  return out
}

/** The file's values, then `env` over them, with the origin of every variable. */
export function mergeSources(
  env: NodeJS.ProcessEnv,
  fromFile: Readonly<Record<string, string>>,
  file: string | null,
): ConfigSources {
  const merged: NodeJS.ProcessEnv = { ...fromFile }
  for (const [name, value] of Object.entries(env)) if (value !== undefined) merged[name] = value
  return {
    env: merged,
    file,
    origin: (name) => (env[name] !== undefined ? 'env' : name in fromFile ? 'file' : 'default'),
  }
}

/** Read the configuration's sources: `path` (a --config option) must exist; the default may not. */
export function configSources(
  env: NodeJS.ProcessEnv = process.env,
  path: string | undefined = undefined,
  cwd = process.cwd(),
): ConfigSources {
  const named = path ?? env.SECKILL_CONFIG
  const file = resolve(cwd, named ?? DEFAULT_CONFIG_FILE)
  if (!existsSync(file)) {
    if (named !== undefined) throw new ConfigError(`config file ${file}: not found`)
    return mergeSources(env, {}, null)
  }
  return mergeSources(env, parseConfigFile(readFileSync(file, 'utf8'), file), file)
}
