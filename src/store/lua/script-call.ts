import type Redis from 'ioredis'

/**
 * What every gateway in this folder shares: the raw call of a script defined by ../scripts.ts,
 * and the decoding of its reply code through the script's one table of codes. Nothing outside
 * this folder calls a script raw, except the scripts' contract tests (test/lua/), whose point is
 * the raw reply.
 */
export type ScriptArg = string | number

/** A script's reply codes by name: every code its `Output:` header lists (a unit test holds it). */
export type ReplyCodes = Readonly<Record<number, string>>

type RawCommand = (...args: ScriptArg[]) => Promise<unknown>

/** Run script `name` (its ioredis command) with its KEYS, then its ARGV; the reply as it comes. */
export function callScript(
  redis: Redis,
  name: string,
  keys: readonly string[],
  argv: readonly ScriptArg[],
): Promise<unknown> {
  const command = (redis as unknown as Record<string, RawCommand | undefined>)[name]
  if (command === undefined) {
    return Promise.reject(new Error(`script ${name} is not defined on this client`))
  }
  return command.apply(redis, [...keys, ...argv])
}

/**
 * The name of a reply code. A code the table does not name is a fault (the script and its gateway
 * disagree), never an outcome: it throws, naming the script and the code.
 */
export function nameOf<T extends ReplyCodes>(script: string, codes: T, code: unknown): T[keyof T] {
  const name = typeof code === 'number' ? codes[code] : undefined
  if (name === undefined) throw new Error(`${script} answered the unknown code ${String(code)}`)
  return name as T[keyof T]
}
