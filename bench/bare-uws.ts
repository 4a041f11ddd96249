import cluster from 'node:cluster'
import { uws } from '../src/uws'

/**
 * The baseline: a bare uWebSockets.js server, WORKERS processes on one port (SO_REUSEPORT, as
 * seckill), answering every request with the answer seckill gives most in the scenario being
 * measured (BARE_STATUS, BARE_BODY; by default the refusal of /buy/ticket). Whatever this does
 * per second on this machine is the ceiling the stack can reach.
 */
const port = Number(process.env.PORT ?? 3099)
const workers = Number(process.env.WORKERS ?? 2)
const STATUS = process.env.BARE_STATUS ?? '200 OK'
const BODY = Buffer.from(process.env.BARE_BODY ?? '{"code":-1,"msg":"已售罄"}')

if (cluster.isPrimary) {
  let ready = 0
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', () => {
      if (++ready === workers) console.log(`bare uWS serving on ${port} with ${workers} workers`)
    })
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill()
    process.exit(0)
  })
} else {
  uws
    .App()
    .any('/*', (res) => {
      res
        .writeStatus(STATUS)
        .writeHeader('Content-Type', 'application/json; charset=utf-8')
        .end(BODY)
    })
    .listen('127.0.0.1', port, (sock) => {
      if (!sock) {
        console.error(`bare uWS: cannot listen on ${port}`)
        process.exit(1)
      }
      process.send?.('ready')
    })
}
