import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Redis } from 'ioredis'
import type { RedisClient } from './redis-client'

/**
 * The loader of native-lua/: every script registered on a client with ioredis `defineCommand`
 * (which does EVALSHA with the EVAL fallback on NOSCRIPT). File name = contract:
 * `<command>-<numberOfKeys>.lua`. The typed calls, one per script, are in lua/.
 *
 * Redis runs each script alone, so code two scripts share is written once in
 * native-lua/includes/<name>.lua and inlined where a script says `--- @include "<name>"`
 * (BullMQ's way); an include that does not exist stops the start.
 */
export interface LuaScript {
  readonly name: string
  readonly numberOfKeys: number
  readonly lua: string
}

function findLuaDir(): string {
  let dir = __dirname
  for (;;) {
    const candidate = join(dir, 'native-lua')
    if (existsSync(candidate)) return candidate
    const up = dirname(dir)
    if (up === dir) throw new Error(`native-lua/ not found above ${__dirname}`)
    dir = up
  }
}

const INCLUDE = /^--- @include "([A-Za-z]+)"[ \t]*$/gm

function withIncludes(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8').replace(INCLUDE, (_, name: string) => {
    const path = join(dir, 'includes', `${name}.lua`)
    if (!existsSync(path))
      throw new Error(`native-lua/${file} includes ${name}, which does not exist`)
    return readFileSync(path, 'utf8')
  })
}

let cached: readonly LuaScript[] | null = null

export function luaScripts(): readonly LuaScript[] {
  if (cached) return cached
  const dir = findLuaDir()
  const scripts: LuaScript[] = []
  for (const file of readdirSync(dir).sort()) {
    const m = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file)
    if (!m) continue
    scripts.push({
      name: m[1]!,
      numberOfKeys: Number(m[2]),
      lua: withIncludes(dir, file),
    })
  }
  cached = Object.freeze(scripts)
  return cached
}

declare const scripted: unique symbol

/**
 * A client with the scripts of native-lua/ defined on it. The commands themselves are not part
 * of its type: only the gateways in lua/ call them, each with its keys in its script's order.
 */
export type ScriptedRedis = RedisClient & { readonly [scripted]: true }

export function defineScripts(client: RedisClient): ScriptedRedis {
  for (const s of luaScripts()) {
    client.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua })
  }
  return client as unknown as ScriptedRedis
}

/**
 * SCRIPT LOAD every script once on one server, so a syntax error stops the start, not a buyer
 * (on a cluster the caller loads them on every master: each has its own script cache).
 */
export async function preloadScripts(client: Redis): Promise<void> {
  for (const s of luaScripts()) {
    try {
      await client.script('LOAD', s.lua)
    } catch (err) {
      throw new Error(
        `native-lua/${s.name}-${s.numberOfKeys}.lua does not load: ${(err as Error).message}`,
      )
    }
  }
}
