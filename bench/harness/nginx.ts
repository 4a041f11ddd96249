import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { until } from './poll'
import { freePort, launch, ROOT } from './spawn'
import type { Teardown } from './teardown'

/**
 * nginx from the shipped lvs/nginx/nginx.conf, run in the foreground by the lvs/ tests and by the
 * benchmark runner's `ab` scenarios (ApacheBench speaks only HTTP/1.0, which uWS does not answer;
 * nginx answers it and speaks HTTP/1.1 to the server behind).
 */

/** Whether nginx can be run (Debian: nginx-light; it lives in /usr/sbin). */
export function nginxInstalled(): boolean {
  return spawnSync('nginx', ['-v']).error === undefined
}

/** lvs/nginx/nginx.conf as shipped. */
export const shippedNginxConf = () => readFileSync(join(ROOT, 'lvs', 'nginx', 'nginx.conf'), 'utf8')

/**
 * nginx in the foreground from the shipped lvs/nginx/nginx.conf, changed only by `edit` and with
 * its `listen 80` moved to a free loopback port (and pid, logs in a scratch folder); resolves
 * with that port once nginx accepts connections, and stops it at teardown.
 */
export async function startNginx(
  t: Teardown,
  edit: (conf: string) => string = (conf) => conf,
): Promise<number> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'seckill-nginx-'))
  mkdirSync(join(dir, 'logs'))
  const shipped = edit(shippedNginxConf())
  const conf = shipped.replace(/^(\s*)listen 80 /m, `$1listen 127.0.0.1:${port} `)
  if (conf === shipped) throw new Error('nginx.conf has no `listen 80` line to move')
  writeFileSync(join(dir, 'nginx.conf'), conf)
  const global = `daemon off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;`
  const nginx = launch('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-g', global])
  t.teardown(async () => {
    // SIGQUIT: graceful shutdown, its workers gone before the folder is.
    await nginx.stop('SIGQUIT')
    rmSync(dir, { recursive: true, force: true })
  })
  const up = () => nginx.proc.exitCode === null && accepts(port)
  const gone = () => nginx.proc.exitCode !== null
  if ((await until(async () => gone() || (await up()), { timeoutMs: 10_000 })) < 0 || gone())
    throw new Error(`nginx did not start:\n${nginx.output()}`)
  return port
}

/** Whether something accepts TCP connections on the port (no request is sent). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/**
 * An edit of the shipped config for one server behind it: the upstream's four instances become
 * the one at `hostPort` (their keep-alive pool kept), and nginx runs `workers` worker processes.
 */
export function inFrontOf(hostPort: string, workers: number): (conf: string) => string {
  return (conf) => {
    const one = conf.replace(
      /^(\s*upstream seckill \{\n)(?:\s*server [^\n]*\n)+/m,
      `$1        server ${hostPort};\n`,
    )
    if (one === conf)
      throw new Error('nginx.conf has no `upstream seckill` with servers to replace')
    const sized = one.replace(/^worker_processes [^;]+;/m, `worker_processes ${workers};`)
    if (sized === one) throw new Error('nginx.conf has no `worker_processes` line to set')
    return sized
  }
}
