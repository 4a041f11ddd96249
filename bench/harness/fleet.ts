import { join } from 'node:path'
import { askNode } from '../../src/control/client'
import type { WorkerSaleView } from '../../src/control/protocol'
import { startNginx } from './nginx'
import type { Teardown } from './teardown'

/**
 * Several seckill nodes as one fleet on this machine, for the fleet tests and the `nodes`
 * benchmark: the shipped nginx in front of them with equal weights, and each node's control
 * socket to read what every one of its workers holds of a sale.
 */

/**
 * lvs/nginx/nginx.conf with its four weighted instances replaced by `ports`, weight 1 each (the
 * passive health checks as shipped); resolves with nginx's port.
 */
export function startNginxOver(
  t: Teardown,
  ports: readonly number[],
  edit: (conf: string) => string = (conf) => conf,
): Promise<number> {
  return startNginx(t, (shipped) => {
    const conf = edit(shipped)
    const servers = /^(\s*)server 127\.0\.0\.1:\d+ weight=\d+ (.*)$/gm
    const first = servers.exec(conf)
    if (first === null) throw new Error('nginx.conf has no upstream server lines to replace')
    const [, indent, rest] = first
    const lines = ports.map((p) => `${indent}server 127.0.0.1:${p} weight=1 ${rest}`).join('\n')
    const edited = conf.replace(/^\s*server 127\.0\.0\.1:\d+ weight=\d+ .*\n/gm, '')
    return edited.replace(/^(\s*upstream seckill \{\n)/m, `$1${lines}\n`)
  })
}

/** Every worker's copy of a sale on the node serving `port` with its run files in `runDir`. */
export function workerViews(
  runDir: string,
  port: number,
  saleId: string,
): Promise<WorkerSaleView[]> {
  return askNode<WorkerSaleView[]>(
    join(runDir, `seckill-${port}.sock`),
    { cmd: 'views', sale: saleId },
    5000,
  )
}
