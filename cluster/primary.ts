import { configureLog, die, exitOnStop, log } from '../src/log'
import { type NodeConfig, readNodeConfig, startLine } from './node-config'
import { startPrimary } from './start-primary'

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
  const { config, env } = node
  const primary = await startPrimary(config, { env, onStartFailure: () => process.exit(1) })
  primary.whenServing.then(() => process.stderr.write(startLine(node)))
  exitOnStop((signal) => {
    log.info({ signal }, 'stopping: workers finish in-flight requests')
    return primary.close()
  }, null)
}

main().catch((err: Error & { exitCode?: number }) => die(err.message, err.exitCode ?? 1))
