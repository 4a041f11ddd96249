/**
 * The one teardown of the tests and the benchmarks: a fixture registers how to undo itself with
 * the caller, a tap test (`t.teardown`) or, in a script outside tap, `Teardowns`.
 */
export interface Teardown {
  teardown(fn: () => unknown): void
}

/**
 * Teardown for a benchmark script: run() undoes everything registered, last first (as tap does:
 * a server stops before the keys and schema it writes to are removed). Every hook runs even when
 * one fails; the first failure is thrown at the end.
 */
export class Teardowns implements Teardown {
  private readonly hooks: (() => unknown)[] = []

  teardown(fn: () => unknown): void {
    this.hooks.push(fn)
  }

  async run(): Promise<void> {
    let failure: unknown = null
    for (let fn = this.hooks.pop(); fn; fn = this.hooks.pop()) {
      try {
        await fn()
      } catch (err) {
        failure ??= err
      }
    }
    if (failure !== null) throw failure
  }
}
