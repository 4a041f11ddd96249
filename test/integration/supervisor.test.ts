import cluster, { type Worker } from 'node:cluster'
import { join } from 'node:path'
import t from 'tap'
import { Supervisor } from '../../cluster/supervisor'

/**
 * The supervisor against real forked processes (this test process is their primary). A worker
 * SIGKILLed while the primary is sending it messages (quota grants under load) makes the sends
 * fail with EPIPE; that must cost the primary nothing: it must live on and fork replacements.
 */
const WORKER = join(__dirname, '..', 'fixtures', 'ipc-sink-worker.js')
const WORKERS = 4
// Five kills per slot keep the crash back-off short (100 ms doubling to 1.6 s) while making 20 chances
// for a send to hit a dying worker; without the fix one in the first few is enough to crash.
const ROUNDS = 5

t.test(
  'workers killed while the primary sends to them are replaced, and the primary lives',
  async (t) => {
    let exits = 0
    const supervisor = new Supervisor(
      WORKERS,
      WORKER,
      {},
      {
        onMessage: () => {},
        onExit: () => {
          exits++
        },
        onStartFailure: () => t.fail('no start failure expected'),
      },
      2000,
    )
    supervisor.start()
    // As if each had said it listens: from now on a death is a crash to restart, not a failed start.
    for (const w of supervisor.live()) supervisor.markReady(w)
    t.teardown(() => supervisor.stop())

    // A worker whose process runs (cluster's 'online'): its end of the channel is being read.
    const running = new Set<number>()
    cluster.on('online', (w) => running.add(w.id))
    const allOnline = () =>
      new Promise<Worker[]>((resolve) => {
        const poll = setInterval(() => {
          const live = supervisor.live().filter((w) => running.has(w.id) && w.isConnected())
          if (live.length === WORKERS) {
            clearInterval(poll)
            resolve(live)
          }
        }, 5)
      })
    const pids = new Set<number>()
    const floodAndKill = async (w: Worker) => {
      pids.add(w.process.pid!)
      // Keep the channel full, as grants do under load, and kill the worker in the middle of it.
      const flood = setInterval(() => {
        for (let i = 0; i < 50; i++) if (w.isConnected()) w.send({ t: 'grant', i })
      }, 0)
      const exited = new Promise((r) => w.once('exit', r))
      setTimeout(() => w.process.kill('SIGKILL'), 20)
      await exited
      clearInterval(flood)
    }
    for (let round = 0; round < ROUNDS; round++)
      await Promise.all((await allOnline()).map(floodAndKill))
    for (const w of await allOnline()) pids.add(w.process.pid!)

    t.equal(exits, WORKERS * ROUNDS, 'every kill was seen')
    t.equal(pids.size, WORKERS * (ROUNDS + 1), 'each killed worker was replaced by a new process')
    t.equal(supervisor.live().length, WORKERS, 'as many workers alive as configured')
  },
)
