import { loadConfig } from '../config'
import { processChannel } from '../ipc'
import { die, exitOnStop } from '../log'
import { startWorker } from './start-worker'

/** Entry file of a uWS worker process, forked by the primary (cluster/primary.ts). */
async function main(): Promise<void> {
  const config = loadConfig()
  const worker = await startWorker(config, processChannel())
  // 'disconnect': the primary is gone, and nobody will restart or feed this worker any more.
  const events = ['SIGTERM', 'SIGINT', 'disconnect']
  exitOnStop(() => worker.close(), config.SHUTDOWN_TIMEOUT_MS, events)
}

main().catch((err: Error) => die(`worker ${process.pid}: ${err.message}`))
