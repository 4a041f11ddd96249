import { randomBytes } from 'node:crypto'
import { loadConfig } from '../src/config'
import { die, exitOnStop, log } from '../src/log'
import { startPrimary } from './start-primary'

/** Entry file of a node: `npm start` / `node dist/cluster/primary.js`. */
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
  const env = withAdminToken(process.env)
  let config: ReturnType<typeof loadConfig>
  try {
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
