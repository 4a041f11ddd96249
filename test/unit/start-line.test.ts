import t from 'tap'
import { type NodeConfig, startLine, withStores } from '../../cluster/node-config'
import { loadConfig } from '../../src/config'

const TOKEN = 'a-token-of-16+ch'

/** A node as readNodeConfig makes it, without reading a file: `env` given, the rest defaults. */
function nodeOf(env: NodeJS.ProcessEnv): NodeConfig {
  const all = { SECKILL_ADMIN_TOKEN: TOKEN, HOST: '127.0.0.1', WORKERS: '2', ...env }
  return {
    config: loadConfig(all),
    env: all,
    file: null,
    generatedToken: null,
    origin: (name) => (name in env ? 'env' : 'default'),
  }
}

t.test('the start line names the stores it was given', async (t) => {
  const line = startLine(nodeOf({ REDIS_URL: 'redis://:secret@10.0.0.7:6379' }))
  t.equal(
    line,
    'seckill: serving on http://127.0.0.1:3005 with 2 workers ' +
      '(Redis redis://***@10.0.0.7:6379; PostgreSQL schema public)\n',
  )
})

t.test(
  'with local services the start line says so, where their data lives, no password',
  async (t) => {
    const node = withStores(nodeOf({}), {
      REDIS_URL: 'redis://:r-secret@127.0.0.1:40001',
      DATABASE_URL: 'postgres://seckill:p-secret@127.0.0.1:40002/seckill',
    })
    const line = startLine(node, { redisDir: '/srv/sk/data/redis', pgDir: '/srv/sk/data/pg' })
    t.equal(
      line,
      'seckill: serving on http://127.0.0.1:3005 with 2 workers ' +
        '(local Redis redis://***@127.0.0.1:40001, data in /srv/sk/data/redis; ' +
        'local PostgreSQL postgres://seckill:***@127.0.0.1:40002/seckill, data in /srv/sk/data/pg, ' +
        'schema public)\n',
    )
    t.notMatch(line, /secret/)
  },
)

t.test('the settled store addresses reach the configuration and the workers alike', async (t) => {
  const before = nodeOf({ PORT: '3100' })
  const after = withStores(before, { DATABASE_URL: 'postgres://u:p@127.0.0.1:5/db' })
  t.equal(after.config.DATABASE_URL, 'postgres://u:p@127.0.0.1:5/db')
  t.equal(
    after.env.DATABASE_URL,
    'postgres://u:p@127.0.0.1:5/db',
    'what the workers are forked with',
  )
  t.equal(after.config.REDIS_URL, 'redis://127.0.0.1:6379', 'a store not settled keeps its value')
  t.equal(after.config.PORT, 3100, 'the rest of the configuration stays')
  t.equal(before.config.DATABASE_URL, '', 'the node it came from is unchanged')
  t.equal(after.origin('DATABASE_URL'), 'default', 'the origin stays what the sources said')
})
