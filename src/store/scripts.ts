import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type Redis from 'ioredis'

/**
 * The Lua scripts of native-lua/, registered on a client with ioredis `defineCommand` (which does
 * EVALSHA with the EVAL fallback on NOSCRIPT). File name = contract: `<command>-<numberOfKeys>.lua`.
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
      lua: readFileSync(join(dir, file), 'utf8'),
    })
  }
  cached = Object.freeze(scripts)
  return cached
}

/** The commands the scripts add to a client. */
export interface ScriptCommands {
  createSale(sale: string, ...argv: (string | number)[]): Promise<[number, string?]>
  setSaleState(sale: string, action: 'start' | 'close'): Promise<number>
  reserve(
    sale: string,
    users: string,
    idem: string,
    orders: string,
    stream: string,
    expiry: string,
    ...argv: (string | number)[]
  ): Promise<ReserveReply[]>
  settleOrders(
    sale: string,
    users: string,
    orders: string,
    expiry: string,
    stream: string,
    action: 'pay' | 'cancel' | 'expire',
    arg: string | number,
  ): Promise<[number, string?] | [number, number, number]>
  recountSale(sale: string, users: string, orders: string): Promise<number[]>
  restoreSale(
    sale: string,
    users: string,
    idem: string,
    orders: string,
    expiry: string,
    final: string,
    ...argv: (string | number)[]
  ): Promise<(number | string)[]>
  pruneOrders(
    final: string,
    orders: string,
    idem: string,
    retentionMs: number,
    most: number,
  ): Promise<[number, number?]>
}

/** One attempt's answer from reserve-6.lua: [code, remaining, orderId?, quantity?, createdAt?, expiresAt?] */
export type ReserveReply = [number, number, string?, number?, number?, number?]

export type ScriptedRedis = Redis & ScriptCommands

export function defineScripts(client: Redis): ScriptedRedis {
  for (const s of luaScripts()) {
    client.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua })
  }
  return client as ScriptedRedis
}

/** SCRIPT LOAD every script once, so a syntax error stops the start, not a buyer. */
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
