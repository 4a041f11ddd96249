import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { type Config, loadConfig } from '../src/config'
import { configSources } from '../src/config-file'
import { die, exitOnStop, log } from '../src/log'
import { startPrimary } from './start-primary'

/** Entry file of a node: `npm start` / `node dist/cluster/primary.js [--config FILE]`. */
function withAdminToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.SECKILL_ADMIN_TOKEN) return env
  const token = randomBytes(24).toString('base64url')
  log.warn(
    { token },
    'SECKILL_ADMIN_TOKEN is not set: admin routes use this generated token until restart',
  )
  return { ...env, SECKILL_ADMIN_TOKEN: token }
}

async function main(): Promise<void> {
  let config: Config
  let env: NodeJS.ProcessEnv
  try {
    const { values } = parseArgs({ options: { config: { type: 'string' } } })
    const sources = configSources(process.env, values.config)
    if (sources.file !== null) log.info({ file: sources.file }, 'configuration file read')
    env = withAdminToken(sources.env)
    config = loadConfig(env)
  } catch (err) {
    die((err as Error).message, 2)
  }
  const primary = await startPrimary(config, { env, onStartFailure: () => process.exit(1) })
  exitOnStop((signal) => {
    log.info({ signal }, 'stopping: workers finish in-flight requests')
    return primary.close()
  }, null)
}

main().catch((err: Error & { exitCode?: number }) => die(err.message, err.exitCode ?? 1))
