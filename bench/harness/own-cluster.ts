import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { waitFor } from './poll'
import { type Child, freePort, launch } from './spawn'
import type { Teardown } from './teardown'

/**
 * A private Redis Cluster of three masters and no replicas, on free ports in a temp dir, for the
 * tests that run the scripts and a node on a cluster (test/integration/redis-cluster.test.ts):
 * `redis-server --cluster-enabled yes` three times, `redis-cli --cluster create`, then every node
 * reports cluster_state:ok. Never the shared Redis on 6379. Killed and removed at teardown.
 */
export interface OwnCluster {
  /** the seed nodes, comma-separated: what REDIS_URL says with REDIS_CLUSTER=on */
  readonly url: string
  /** one plain client per master, in port order */
  readonly nodes: readonly { readonly port: number; readonly client: Redis }[]
}

const run = promisify(execFile)

export async function ownCluster(t: Teardown, masters = 3): Promise<OwnCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'seckill-cluster-'))
  const servers: Child[] = []
  const nodes: { port: number; client: Redis }[] = []
  t.teardown(async () => {
    for (const n of nodes) n.client.disconnect()
    await Promise.all(servers.map((s) => s.stop('SIGKILL')))
    rmSync(dir, { recursive: true, force: true })
  })
  for (let i = 0; i < masters; i++) {
    const port = await freePort()
    // The bus port is named (Redis 7): the default, port + 10000, may be taken or above 65535.
    const bus = await freePort()
    servers.push(
      launch('redis-server', [
        '--port',
        String(port),
        '--cluster-port',
        String(bus),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ]),
    )
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      retryStrategy: () => 50,
    })
    // Refused connections are expected while the server starts.
    client.on('error', () => {})
    nodes.push({ port, client })
  }
  for (const n of nodes) {
    await waitFor(`cluster node ${n.port} to answer PING`, async () => {
      if (n.client.status === 'wait') await n.client.connect()
      return (await n.client.ping()) === 'PONG'
    })
  }
  // Splits the 16384 slots evenly over the masters and joins them over the bus.
  await run(
    'redis-cli',
    [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ],
    { timeout: 20_000 },
  )
  // Every node must see every slot covered, or a client's first command may land on one that
  // has not heard of the others yet.
  for (const n of nodes) {
    await waitFor(`cluster node ${n.port} to report cluster_state:ok`, async () =>
      /^cluster_state:ok/m.test(await n.client.cluster('INFO')),
    )
  }
  return { url: nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(','), nodes }
}
