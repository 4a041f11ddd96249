import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import type { Attempt } from '../../src/purchase/attempt'
import { Batcher } from '../../src/purchase/batcher'
import type { ReserveBatch, ReserveOutcome } from '../../src/purchase/reserve-batch'
import { decodeReserveReply, type RawReserveReply, RESERVE } from '../../src/store/lua/reserve'

/**
 * Batcher with a fake `run` whose promises the test settles by hand, and sinks that log every
 * answer. No Redis: what goes out is the argv, what comes back is whatever the test resolves.
 */

interface Call {
  batch: ReserveBatch
  resolve(o: ReserveOutcome): void
  reject(err: Error): void
}

interface Rig {
  batcher: Batcher
  calls: Call[]
  /** every answer a sink got, in order: 'reply <sale> <orderId> <code>' or 'fail <sale> <orderId>' */
  events: string[]
  flushes: number[]
  /** order ids whose client is gone: the sink withdraws them */
  gone: Set<string>
}

/** A batcher in window mode (BATCH_WINDOW_US), or `mode` 'waiting' (the window is unused). */
function rig(
  windowUs: number,
  max: number,
  timeoutMs = 60_000,
  mode: 'waiting' | 'window' = 'window',
  inFlight = 1,
): Rig {
  const calls: Call[] = []
  const events: string[] = []
  const flushes: number[] = []
  const gone = new Set<string>()
  const batcher = new Batcher({
    mode,
    windowUs,
    max,
    inFlight,
    timeoutMs,
    run: (batch) =>
      new Promise<ReserveOutcome>((resolve, reject) => calls.push({ batch, resolve, reject })),
    sinkOf: (saleId) => ({
      onReply: (a, r) =>
        events.push(`reply ${saleId} ${a.orderId} ${CODE_OF.get(r.outcome)}/${r.remaining}`),
      onFailure: (a, code) => events.push(`fail ${saleId} ${a.orderId} ${code}`),
      withdraw: (a) => {
        if (!gone.has(a.orderId)) return false
        events.push(`withdrawn ${saleId} ${a.orderId}`)
        return true
      },
    }),
    onFlush: (size) => flushes.push(size),
  })
  return { batcher, calls, events, flushes, gone }
}

function attempt(saleId: string, n: number, quantity = 1): Attempt {
  return {
    res: null,
    compat: false,
    saleId,
    userId: `u${n}`,
    quantity,
    idemKey: `k${n}`,
    orderId: `${saleId}.o${n}`,
    parkedAt: 0,
  }
}

/** reserve-6.lua's replies, decoded by its gateway as the reserver does. */
const ok = (...replies: RawReserveReply[]): ReserveOutcome => ({
  ok: true,
  results: replies.map(decodeReserveReply),
})

/** The code of each outcome name, so the log shows what the script answered. */
const CODE_OF = new Map(Object.entries(RESERVE.codes).map(([code, name]) => [name, Number(code)]))

/** One turn of the event loop: lets a resolved run's callbacks, and a 0-µs window, run. */
const turn = () => immediate()

t.test(
  'a batch goes out on the next turn of the loop once BATCH_MAX attempts have collected',
  async (t) => {
    const r = rig(20_000, 3)
    r.batcher.add(attempt('s1', 1))
    r.batcher.add(attempt('s1', 2, 2))
    t.equal(r.calls.length, 0)
    r.batcher.add(attempt('s1', 3))
    t.equal(r.calls.length, 0, 'not from inside the request handler')
    await turn()
    t.equal(r.calls.length, 1, 'sent on the next turn, without waiting for the window')
    t.strictSame(r.calls[0]!.batch, {
      saleId: 's1',
      argv: [3, 's1.o1', 'u1', 1, 'k1', 's1.o2', 'u2', 2, 'k2', 's1.o3', 'u3', 1, 'k3'],
    })
    t.strictSame(r.flushes, [3])
    // the window timer started by the first attempt finds nothing left to send
    await sleep(40)
    t.equal(r.calls.length, 1)
    r.calls[0]!.resolve(ok([0, 9], [0, 8], [0, 7]))
    await r.batcher.idle()
    t.strictSame(r.events, ['reply s1 s1.o1 0/9', 'reply s1 s1.o2 0/8', 'reply s1 s1.o3 0/7'])
  },
)

t.test(
  'an attempt whose client went away before its batch was sent is left out of the batch',
  async (t) => {
    const r = rig(0, 100)
    r.batcher.add(attempt('s1', 1))
    r.batcher.add(attempt('s1', 2))
    // uWS's onAborted for a pipelined request comes after the handler, before setImmediate
    r.gone.add('s1.o1')
    await turn()
    t.equal(r.calls.length, 1)
    t.strictSame(r.calls[0]!.batch.argv, [1, 's1.o2', 'u2', 1, 'k2'], 'only the live attempt')
    r.calls[0]!.resolve(ok([0, 1]))
    await r.batcher.idle()
    t.strictSame(r.events, ['withdrawn s1 s1.o1', 'reply s1 s1.o2 0/1'])
  },
)

t.test('a batch whose every client went away is not sent at all', async (t) => {
  const r = rig(0, 2)
  r.batcher.add(attempt('s1', 1))
  r.batcher.add(attempt('s1', 2))
  r.gone.add('s1.o1').add('s1.o2')
  await r.batcher.idle()
  t.equal(r.calls.length, 0, 'no call reached Redis')
  t.strictSame(r.events, ['withdrawn s1 s1.o1', 'withdrawn s1 s1.o2'])
  t.equal(r.batcher.busy, false)
})

t.test('with a 0 µs window the batch goes out on the next turn of the event loop', async (t) => {
  const r = rig(0, 100)
  r.batcher.add(attempt('s1', 1))
  r.batcher.add(attempt('s1', 2))
  await Promise.resolve()
  t.equal(r.calls.length, 0, 'not from a microtask: attempts of the same turn join')
  await turn()
  t.equal(r.calls.length, 1)
  t.strictSame(r.calls[0]!.batch, {
    saleId: 's1',
    argv: [2, 's1.o1', 'u1', 1, 'k1', 's1.o2', 'u2', 1, 'k2'],
  })
  t.strictSame(r.flushes, [2])
  r.calls[0]!.resolve(ok([0, 1], [0, 0]))
  await r.batcher.idle()
})

t.test('below BATCH_MAX the batch waits for the window to end', async (t) => {
  const r = rig(2000, 100)
  const started = performance.now()
  let sentAfter = -1
  r.batcher.add(attempt('s1', 1))
  r.batcher.add(attempt('s1', 2))
  await turn()
  t.equal(r.calls.length, 0, 'still collecting after a turn of the loop')
  while (r.calls.length === 0 && performance.now() - started < 1000) {
    await sleep(1)
    if (r.calls.length > 0) sentAfter = performance.now() - started
  }
  t.equal(r.calls.length, 1)
  t.ok(sentAfter >= 1, `sent after the 2 ms window (${sentAfter.toFixed(2)} ms)`)
  t.strictSame(r.flushes, [2])
  // one timer for the window: a later attempt starts a new one
  r.batcher.add(attempt('s1', 3))
  t.equal(r.calls.length, 1)
  await sleep(20)
  t.equal(r.calls.length, 2)
  t.strictSame(r.calls[1]!.batch.argv, [1, 's1.o3', 'u3', 1, 'k3'])
  r.calls[0]!.resolve(ok([0, 5], [0, 4]))
  r.calls[1]!.resolve(ok([0, 3]))
  await r.batcher.idle()
})

t.test(
  'each sale gets its own batch, and each answer goes to the right attempt in order',
  async (t) => {
    const r = rig(0, 100)
    r.batcher.add(attempt('s1', 1))
    r.batcher.add(attempt('s2', 2))
    r.batcher.add(attempt('s1', 3))
    r.batcher.add(attempt('s2', 4))
    r.batcher.add(attempt('s1', 5))
    await turn()
    t.strictSame(
      r.calls.map((c) => c.batch),
      [
        {
          saleId: 's1',
          argv: [3, 's1.o1', 'u1', 1, 'k1', 's1.o3', 'u3', 1, 'k3', 's1.o5', 'u5', 1, 'k5'],
        },
        { saleId: 's2', argv: [2, 's2.o2', 'u2', 1, 'k2', 's2.o4', 'u4', 1, 'k4'] },
      ],
    )
    t.strictSame(r.flushes, [3, 2])
    // answer the second sale first: each batch is routed on its own
    r.calls[1]!.resolve(ok([0, 9], [-2, 9]))
    await turn()
    t.strictSame(r.events, ['reply s2 s2.o2 0/9', 'reply s2 s2.o4 -2/9'])
    r.calls[0]!.resolve(ok([0, 2], [-1, 2], [1, 2]))
    await r.batcher.idle()
    t.strictSame(r.events, [
      'reply s2 s2.o2 0/9',
      'reply s2 s2.o4 -2/9',
      'reply s1 s1.o1 0/2',
      'reply s1 s1.o3 -1/2',
      'reply s1 s1.o5 1/2',
    ])
  },
)

t.test('a full batch of one sale does not take the other sale collecting with it', async (t) => {
  const r = rig(0, 2)
  r.batcher.add(attempt('s1', 1))
  r.batcher.add(attempt('s2', 2))
  r.batcher.add(attempt('s1', 3))
  t.equal(r.calls.length, 0)
  await turn()
  t.strictSame(
    r.calls.map((c) => c.batch),
    [
      { saleId: 's1', argv: [2, 's1.o1', 'u1', 1, 'k1', 's1.o3', 'u3', 1, 'k3'] },
      { saleId: 's2', argv: [1, 's2.o2', 'u2', 1, 'k2'] },
    ],
  )
  t.strictSame(r.flushes, [2, 1])
  r.calls[0]!.resolve(ok([0, 1], [0, 0]))
  r.calls[1]!.resolve(ok([0, 1]))
  await r.batcher.idle()
})

t.test(
  'a run rejected after the batch was sent answers every attempt outcome_unknown',
  async (t) => {
    const r = rig(0, 100)
    r.batcher.add(attempt('s1', 1))
    r.batcher.add(attempt('s1', 2))
    await turn()
    r.calls[0]!.reject(new Error('Connection is closed.'))
    await r.batcher.idle()
    t.strictSame(r.events, ['fail s1 s1.o1 outcome_unknown', 'fail s1 s1.o2 outcome_unknown'])
  },
)

t.test('a run ioredis refused before writing it answers every attempt unavailable', async (t) => {
  const r = rig(0, 100)
  r.batcher.add(attempt('s1', 1))
  await turn()
  r.calls[0]!.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"))
  await r.batcher.idle()
  t.strictSame(r.events, ['fail s1 s1.o1 unavailable'])
})

t.test('an unavailable outcome answers every attempt with onFailure', async (t) => {
  const r = rig(0, 100)
  r.batcher.add(attempt('s1', 1))
  r.batcher.add(attempt('s1', 2))
  await turn()
  r.calls[0]!.resolve({ ok: false, code: 'unavailable', detail: 'down' })
  await r.batcher.idle()
  t.strictSame(r.events, ['fail s1 s1.o1 unavailable', 'fail s1 s1.o2 unavailable'])
})

t.test(
  'a batch unanswered past the timeout is answered outcome_unknown, and its late reply is dropped',
  async (t) => {
    const r = rig(0, 100, 30)
    r.batcher.add(attempt('s1', 1))
    await turn()
    t.equal(r.calls.length, 1)
    await sleep(60)
    t.strictSame(r.events, ['fail s1 s1.o1 outcome_unknown'], 'answered when the timeout ends')
    t.equal(r.batcher.hung, true, 'the stock store counts as hung')
    t.equal(r.batcher.busy, false, 'nothing left to wait for on a graceful stop')
    r.calls[0]!.resolve(ok([0, 1]))
    await turn()
    t.strictSame(r.events, ['fail s1 s1.o1 outcome_unknown'], 'the late reply answers nobody')
    t.equal(r.batcher.hung, false, 'a late reply ends the hang')
  },
)

t.test(
  'while a timed-out batch is unanswered, new batches are not sent and are answered unavailable',
  async (t) => {
    const r = rig(0, 100, 30)
    r.batcher.add(attempt('s1', 1))
    await turn()
    await sleep(60)
    r.batcher.add(attempt('s1', 2))
    r.batcher.add(attempt('s2', 3))
    await turn()
    t.equal(r.calls.length, 1, 'no second call reached the hung store')
    t.strictSame(r.events, [
      'fail s1 s1.o1 outcome_unknown',
      'fail s1 s1.o2 unavailable',
      'fail s2 s2.o3 unavailable',
    ])
    r.calls[0]!.reject(new Error('Command timed out'))
    await turn()
    r.batcher.add(attempt('s1', 4))
    await turn()
    t.equal(r.calls.length, 2, 'once the hung call settles, batches go out again')
    r.calls[1]!.resolve(ok([0, 1]))
    await r.batcher.idle()
    t.strictSame(r.events.slice(3), ['reply s1 s1.o4 0/1'])
  },
)

t.test(
  'a reply count that does not match the batch fails every attempt, none is guessed',
  async (t) => {
    const r = rig(0, 100)
    for (let i = 1; i <= 3; i++) r.batcher.add(attempt('s1', i))
    r.batcher.add(attempt('s2', 4))
    await turn()
    r.calls[0]!.resolve(ok([0, 5], [0, 4]))
    r.calls[1]!.resolve(ok([0, 5], [0, 4]))
    await r.batcher.idle()
    // The batch ran in Redis, so what it did is unknown: never claimed as nothing reserved.
    t.strictSame(r.events, [
      'fail s1 s1.o1 outcome_unknown',
      'fail s1 s1.o2 outcome_unknown',
      'fail s1 s1.o3 outcome_unknown',
      'fail s2 s2.o4 outcome_unknown',
    ])
  },
)

t.test('onFlush gets the size of every batch sent', async (t) => {
  const r = rig(0, 4)
  for (let i = 1; i <= 9; i++) r.batcher.add(attempt('s1', i))
  r.batcher.add(attempt('s2', 10))
  t.strictSame(r.flushes, [])
  await turn()
  t.strictSame(r.flushes, [4, 4, 1, 1])
  for (const c of r.calls)
    c.resolve(
      ok(...Array.from({ length: c.batch.argv[0] as number }, () => [0, 1] as RawReserveReply)),
    )
  await r.batcher.idle()
  t.equal(r.events.length, 10)
})

t.test('idle() resolves at once when nothing is collecting or in flight', async (t) => {
  const r = rig(0, 100)
  t.equal(r.batcher.busy, false)
  await r.batcher.idle()
  t.equal(r.calls.length, 0)
})

t.test(
  'idle() sends what is collecting and resolves only after every batch is answered',
  async (t) => {
    const r = rig(50_000, 100)
    r.batcher.add(attempt('s1', 1))
    r.batcher.add(attempt('s2', 2))
    t.equal(r.batcher.busy, true)
    let idle = false
    const done = r.batcher.idle().then(() => {
      idle = true
    })
    t.equal(r.calls.length, 2, 'idle() does not wait for the window')
    await turn()
    t.equal(idle, false)
    r.calls[0]!.resolve(ok([0, 1]))
    await turn()
    t.equal(idle, false, 'one batch is still unanswered')
    t.strictSame(r.events, ['reply s1 s1.o1 0/1'])
    r.calls[1]!.reject(new Error('timeout'))
    await done
    t.equal(idle, true)
    t.equal(r.batcher.busy, false)
    t.strictSame(r.events, ['reply s1 s1.o1 0/1', 'fail s2 s2.o2 outcome_unknown'])
  },
)

t.test('idle() also waits for attempts a sink adds back while answering', async (t) => {
  const calls: Call[] = []
  const events: string[] = []
  let batcher: Batcher | null = null
  batcher = new Batcher({
    mode: 'window',
    windowUs: 0,
    max: 100,
    timeoutMs: 60_000,
    run: (batch) =>
      new Promise<ReserveOutcome>((resolve, reject) => calls.push({ batch, resolve, reject })),
    sinkOf: (saleId) => ({
      // a reply frees quota, and the desk sends a parked attempt on: it joins a new batch
      onReply: (a) => {
        events.push(`reply ${saleId} ${a.orderId}`)
        if (a.orderId === 's1.o1') batcher?.add(attempt('s1', 2))
      },
      onFailure: (a) => events.push(`fail ${saleId} ${a.orderId}`),
      withdraw: () => false,
    }),
  })
  batcher.add(attempt('s1', 1))
  let idle = false
  const done = batcher.idle().then(() => {
    idle = true
  })
  calls[0]!.resolve(ok([-1, 1]))
  await turn()
  await turn()
  t.equal(calls.length, 2)
  t.equal(idle, false)
  calls[1]!.resolve(ok([0, 0]))
  await done
  t.strictSame(events, ['reply s1 s1.o1', 'reply s1 s1.o2'])
})

t.test(
  'waiting mode: a sale with nothing in flight sends on the next turn, no window',
  async (t) => {
    const r = rig(1_000_000, 100, 60_000, 'waiting')
    r.batcher.add(attempt('s1', 1))
    r.batcher.add(attempt('s1', 2))
    await Promise.resolve()
    t.equal(r.calls.length, 0, 'not from inside the handler: attempts of the same turn join')
    await turn()
    t.equal(r.calls.length, 1, 'sent on the next turn, though the window is a second')
    t.strictSame(r.flushes, [2])
    r.calls[0]!.resolve(ok([0, 1], [0, 0]))
    await r.batcher.idle()
  },
)

t.test(
  'waiting mode: while a batch is in flight the sale collects, and sends when it returns',
  async (t) => {
    const r = rig(0, 100, 60_000, 'waiting')
    r.batcher.add(attempt('s1', 1))
    await turn()
    t.equal(r.calls.length, 1)
    for (let i = 2; i <= 4; i++) r.batcher.add(attempt('s1', i))
    r.batcher.add(attempt('s2', 9))
    await turn()
    await turn()
    t.equal(r.calls.length, 2, 'the other sale, with nothing in flight, went at once')
    t.equal(r.calls[1]!.batch.saleId, 's2')
    r.calls[0]!.resolve(ok([0, 10]))
    await turn()
    await turn()
    t.equal(r.calls.length, 3, "s1's collected attempts went when its batch came back")
    t.strictSame(r.calls[2]!.batch.argv, [
      3,
      's1.o2',
      'u2',
      1,
      'k2',
      's1.o3',
      'u3',
      1,
      'k3',
      's1.o4',
      'u4',
      1,
      'k4',
    ])
    t.strictSame(r.flushes, [1, 1, 3])
    r.calls[1]!.resolve(ok([0, 1]))
    r.calls[2]!.resolve(ok([0, 9], [0, 8], [0, 7]))
    await r.batcher.idle()
    t.equal(r.events.length, 5, 'every attempt answered')
  },
)

t.test(
  'waiting mode with two in flight: a second batch goes while the first is out, a third collects',
  async (t) => {
    const r = rig(0, 100, 60_000, 'waiting', 2)
    r.batcher.add(attempt('s1', 1))
    await turn()
    r.batcher.add(attempt('s1', 2))
    await turn()
    t.equal(r.calls.length, 2, 'the second attempt did not wait for the first batch')
    r.batcher.add(attempt('s1', 3))
    r.batcher.add(attempt('s1', 4))
    await turn()
    await turn()
    t.equal(r.calls.length, 2, 'with two out, the sale collects')
    r.calls[1]!.resolve(ok([0, 8]))
    await turn()
    await turn()
    t.equal(r.calls.length, 3, 'the collected attempts went when one came back')
    t.strictSame(r.flushes, [1, 1, 2])
    r.calls[0]!.resolve(ok([0, 9]))
    r.calls[2]!.resolve(ok([0, 7], [0, 6]))
    await r.batcher.idle()
    t.equal(r.events.length, 4, 'every attempt answered once')
  },
)

t.test('waiting mode: a full batch goes at once even while one is in flight', async (t) => {
  const r = rig(0, 2, 60_000, 'waiting')
  r.batcher.add(attempt('s1', 1))
  await turn()
  r.batcher.add(attempt('s1', 2))
  r.batcher.add(attempt('s1', 3))
  await turn()
  t.equal(r.calls.length, 2, 'the full batch did not wait for the first')
  r.calls[0]!.resolve(ok([0, 5]))
  r.calls[1]!.resolve(ok([0, 4], [0, 3]))
  await r.batcher.idle()
})

t.test(
  'waiting mode: attempts collected behind a batch that times out are answered, not stuck',
  async (t) => {
    const r = rig(0, 100, 30, 'waiting')
    r.batcher.add(attempt('s1', 1))
    await turn()
    r.batcher.add(attempt('s1', 2))
    await sleep(80)
    t.strictSame(
      r.events,
      ['fail s1 s1.o1 outcome_unknown', 'fail s1 s1.o2 unavailable'],
      'the first is unknown (sent); the one behind it was never sent while Redis hangs',
    )
    r.calls[0]!.resolve(ok([0, 1]))
    await r.batcher.idle()
  },
)
