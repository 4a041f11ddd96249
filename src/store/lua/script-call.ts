import { type SaleKeys, saleKeys } from '../keys'
import type { RedisClient } from '../redis-client'

/**
 * What every gateway in this folder shares: a script's descriptor (its file, its ioredis command,
 * its KEYS in header order and its one table of reply codes), the raw call of a script defined by
 * ../scripts.ts, and the decoding of its reply codes. Nothing outside this folder calls a script
 * raw, except the scripts' contract tests (test/lua/), whose point is the raw reply.
 */
export type ScriptArg = string | number

/** A script's reply codes by name: every code its `Output:` header lists (a unit test holds it). */
export type ReplyCodes = Readonly<Record<number, string>>

/** One script of native-lua/ working on one sale's keys. */
export interface SaleScript<C extends ReplyCodes, K extends readonly string[] = string[]> {
  /** the file, `<command>-<numberOfKeys>.lua`: what a fault names */
  readonly file: string
  /** the ioredis command defineScripts registered for it */
  readonly command: string
  readonly codes: C
  /** KEYS, in the order of the script's header: built here and nowhere else */
  keys(k: SaleKeys): K
  /**
   * The script changes the sale or appends to its order stream and rings the sale's bell
   * (publishes on it, src/store/sale-bell.ts): its last ARGV is the bell channel, added by
   * runOnSale.
   */
  readonly rings: boolean
}

/** The names a script's replies can have. */
export type OutcomeOf<S> = S extends SaleScript<infer C, readonly string[]> ? C[keyof C] : never

export function saleScript<C extends ReplyCodes, K extends readonly string[]>(
  file: string,
  codes: C,
  keys: (k: SaleKeys) => K,
  o: { rings?: boolean } = {},
): SaleScript<C, K> {
  const m = /^([A-Za-z]+)-\d+\.lua$/.exec(file)
  if (!m) throw new Error(`${file} is not a script file name (<command>-<numberOfKeys>.lua)`)
  return Object.freeze({ file, command: m[1]!, codes, keys, rings: o.rings === true })
}

type RawCommand = (...args: ScriptArg[]) => Promise<unknown>

/** Run the ioredis command of a script with its KEYS, then its ARGV; the reply as it comes. */
export function callScript(
  redis: RedisClient,
  command: string,
  keys: readonly string[],
  argv: readonly ScriptArg[],
): Promise<unknown> {
  const run = (redis as unknown as Record<string, RawCommand | undefined>)[command]
  if (run === undefined) {
    return Promise.reject(new Error(`script ${command} is not defined on this client`))
  }
  return run.apply(redis, [...keys, ...argv])
}

/** Run `script` on the keys of sale `saleId` (then the sale's bell channel, for one that rings). */
export function runOnSale(
  redis: RedisClient,
  script: SaleScript<ReplyCodes, readonly string[]>,
  prefix: string,
  saleId: string,
  argv: readonly ScriptArg[],
): Promise<unknown> {
  const k = saleKeys(prefix, saleId)
  return callScript(redis, script.command, script.keys(k), script.rings ? [...argv, k.bell] : argv)
}

/**
 * The name of a reply code. A code the table does not name is a fault (the script and its gateway
 * disagree), never an outcome: it throws, naming the script and the code.
 */
export function nameOf<C extends ReplyCodes>(
  script: SaleScript<C, readonly string[]>,
  code: unknown,
): C[keyof C] {
  const name = typeof code === 'number' ? script.codes[code] : undefined
  if (name === undefined)
    throw new Error(`${script.file} answered the unknown code ${String(code)}`)
  return name as C[keyof C]
}

/**
 * A reply of counts ({forgotten, still due}...), whose only refusals are a caller's fault: a
 * negative first element is named and thrown.
 */
export function countsOf(
  script: SaleScript<ReplyCodes, readonly string[]>,
  reply: unknown,
): number[] {
  const counts = reply as number[]
  const first = counts[0]
  if (first === undefined || first < 0) {
    throw new Error(`${script.file} answered ${nameOf(script, first)}`)
  }
  return counts
}
