/**
 * The one poller of the tests and the benchmarks: ask a question until it says yes or time is up.
 */
export interface PollOptions {
  /** give up after this long */
  readonly timeoutMs: number
  /** pause between two asks; 50 ms is far below every wait we poll for and cheap to ask */
  readonly everyMs?: number
}

/**
 * Ask `check` until it returns true: the milliseconds it took, or -1 once `timeoutMs` has passed.
 * A check that throws counts as a no: what is polled is often still starting (a refused
 * connection, a missing table).
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  o: PollOptions,
): Promise<number> {
  const t0 = Date.now()
  for (;;) {
    if (await yes(check)) return Date.now() - t0
    if (Date.now() - t0 >= o.timeoutMs) return -1
    await new Promise((r) => setTimeout(r, o.everyMs ?? 50))
  }
}

async function yes(check: () => boolean | Promise<boolean>): Promise<boolean> {
  try {
    return await check()
  } catch {
    return false
  }
}

/** until(), throwing an error that names `what` when it does not happen within `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  everyMs?: number,
): Promise<void> {
  if ((await until(check, { timeoutMs, everyMs })) < 0)
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
