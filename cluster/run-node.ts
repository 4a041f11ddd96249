import { runFiles } from '../src/control/run-files'
import { configureLog, die, exitOnStop, log } from '../src/log'
import { serveControl } from './control-server'
import { startLocalServices } from './local-services'
import { type NodeConfig, readNodeConfig, startLine } from './node-config'
import { claimRunFiles, releaseRunFiles } from './node-files'
import { type PrimaryHandle, startPrimary } from './start-primary'

/**
 * A node in the foreground, as `npm start` and `seckill start` run it: read the configuration,
 * claim the run files, start the primary and its workers, open the control socket, and stop
 * gracefully on SIGTERM or SIGINT.
 */
export async function runNode(argv: string[], processEnv: NodeJS.ProcessEnv): Promise<void> {
  let node: NodeConfig
  let files: ReturnType<typeof runFiles>
  try {
    node = readNodeConfig(argv, processEnv)
    files = runFiles(node.config)
  } catch (err) {
    die((err as Error).message, 2)
  }
  configureLog(node.config)
  if (node.file !== null) log.info({ file: node.file }, 'configuration file read')
  if (node.generatedToken !== null) {
    const why =
      'SECKILL_ADMIN_TOKEN is not set: admin routes use this generated token until restart'
    log.warn({ token: node.generatedToken }, why)
  }
  claimRunFiles(files, node.config.PORT)
  // Redis and PostgreSQL of the node's own when none are given (cluster/local-services.ts):
  // started before the primary, stopped after it, also when its start fails.
  const local = await startLocalServices(node)
  const served = local.node
  const { config, env } = served
  let primary: PrimaryHandle
  try {
    primary = await startPrimary(config, {
      env,
      configFile: served.file,
      onStartFailure: () => void local.stop().finally(() => process.exit(1)),
    })
  } catch (err) {
    await local.stop()
    throw err
  }
  const control = await serveControl(files.socket, {
    status: () => primary.status(),
    reload: () => primary.reload(),
    token: async () => config.SECKILL_ADMIN_TOKEN,
    views: (req) => primary.views(req.sale),
  })
  primary.whenServing.then(() => process.stderr.write(startLine(served, local.stores)))
  exitOnStop(async (signal) => {
    log.info({ signal }, 'stopping: workers drain their connections and finish in-flight requests')
    control.close()
    try {
      await primary.close()
    } finally {
      await local.stop()
    }
    releaseRunFiles(files)
  }, null)
  local.handOver()
}

export function runNodeOrDie(argv: string[], processEnv: NodeJS.ProcessEnv): void {
  runNode(argv, processEnv).catch((err: Error & { exitCode?: number }) =>
    die(err.message, err.exitCode ?? 1),
  )
}
