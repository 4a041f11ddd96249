import { configureLog, die, exitOnStop, log } from '../src/log'
import { startLocalServices } from './local-services'
import { type NodeConfig, readNodeConfig, startLine } from './node-config'
import { type PrimaryHandle, startPrimary } from './start-primary'

/** Entry file of a node: `npm start` / `node dist/cluster/primary.js [--config FILE]`. */
async function main(): Promise<void> {
  let node: NodeConfig
  try {
    node = readNodeConfig(process.argv.slice(2), process.env)
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
  // Redis and PostgreSQL of the node's own when none are given (cluster/local-services.ts):
  // started before the primary, stopped after it, also when its start fails.
  const local = await startLocalServices(node)
  node = local.node
  const { config, env } = node
  let primary: PrimaryHandle
  try {
    primary = await startPrimary(config, {
      env,
      onStartFailure: () => void local.stop().finally(() => process.exit(1)),
    })
  } catch (err) {
    await local.stop()
    throw err
  }
  const served = node
  primary.whenServing.then(() => process.stderr.write(startLine(served, local.stores)))
  exitOnStop(async (signal) => {
    log.info({ signal }, 'stopping: workers finish in-flight requests')
    try {
      await primary.close()
    } finally {
      await local.stop()
    }
  }, null)
  local.handOver()
}

main().catch((err: Error & { exitCode?: number }) => die(err.message, err.exitCode ?? 1))
