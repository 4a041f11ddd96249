import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startNginx } from '../../bench/harness/nginx'
import { client } from '../helpers/http'
import { Conn } from '../helpers/raw-http'
import { ROOT, startServer, type Teardown } from '../helpers/server'
import { missing, run } from '../helpers/tools'

/**
 * Every file of lvs/ passes its own tool's check, and each check is shown to fail on a broken
 * copy (so a pass means something): nginx -t, keepalived --config-test, bird -p. The real-server
 * script is run in a network namespace of the test's own.
 */
const LVS = join(ROOT, 'lvs')

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'seckill-lvs-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function nginxTest(conf: string, prefix: string) {
  mkdirSync(join(prefix, 'logs'), { recursive: true })
  return run('nginx', [
    '-t',
    '-c',
    conf,
    '-p',
    prefix,
    '-g',
    `pid ${prefix}/nginx.pid; error_log ${prefix}/error.log;`,
  ])
}

t.test(
  'nginx -t accepts lvs/nginx/nginx.conf and refuses it broken',
  { skip: missing('nginx') },
  async (t) => {
    const dir = scratch(t)
    const ok = nginxTest(join(LVS, 'nginx', 'nginx.conf'), dir)
    t.equal(ok.status, 0, ok.out)
    t.match(ok.out, /syntax is ok/)
    const broken = join(dir, 'broken.conf')
    writeFileSync(
      broken,
      readFileSync(join(LVS, 'nginx', 'nginx.conf'), 'utf8').replace(
        'proxy_http_version 1.1;',
        'proxy_http_version 2.0;',
      ),
    )
    const bad = nginxTest(broken, dir)
    t.not(bad.status, 0)
    t.match(bad.out, /invalid value "2\.0"/)
  },
)

/** Four stand-in instances: for each request, which one got it, over which socket, in which HTTP. */
async function instances(t: Teardown, n: number) {
  const seen: { instance: number; socket: number; version: string }[] = []
  const sockets = new WeakMap<Socket, number>()
  let nextSocket = 0
  const ports: number[] = []
  for (let i = 0; i < n; i++) {
    const server = createServer((req, res) => {
      sockets.set(req.socket, sockets.get(req.socket) ?? nextSocket++)
      seen.push({ instance: i, socket: sockets.get(req.socket)!, version: req.httpVersion })
      res.end('ok')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    t.teardown(() => new Promise((r) => server.close(r)))
    ports.push((server.address() as AddressInfo).port)
  }
  return { ports, seen }
}

t.test(
  'nginx from the shipped config sends every 10 requests 1:2:3:4 to the instances, interleaved, over kept HTTP/1.1 connections',
  { skip: missing('nginx') },
  async (t) => {
    const WEIGHTS = [1, 2, 3, 4]
    const REQUESTS = 100
    const up = await instances(t, WEIGHTS.length)
    const listen = await startNginx(t, (conf) => {
      let moved = conf
      for (const [i, port] of up.ports.entries())
        moved = moved.replace(`server 127.0.0.1:${3001 + i} `, `server 127.0.0.1:${port} `)
      if ((moved.match(/server 127\.0\.0\.1:300\d /g) ?? []).length > 0)
        throw new Error('an upstream server of nginx.conf is not on 3001-3004')
      return moved
    })
    // One client connection: one nginx worker serves it all, so its round-robin is exact.
    const http = client(listen, 1)
    t.teardown(() => http.close())
    await http.request('GET', '/healthz')
    up.seen.length = 0
    for (let i = 0; i < REQUESTS; i++) await http.request('GET', `/buy/ticket?user=u${i}`)

    const order = up.seen.map((s) => s.instance)
    t.equal(order.length, REQUESTS, 'each request reached one instance')
    for (let at = 0; at < REQUESTS; at += 10) {
      const counts = WEIGHTS.map((_, i) => order.slice(at, at + 10).filter((n) => n === i).length)
      t.same(counts, WEIGHTS, `requests ${at + 1}-${at + 10} split ${counts.join(':')}`)
    }
    let longest = 1
    for (let i = 1, run = 1; i < order.length; i++) {
      run = order[i] === order[i - 1] ? run + 1 : 1
      longest = Math.max(longest, run)
    }
    t.ok(longest <= 2, `never more than 2 requests in a row to one instance: ${longest}`)
    t.same(
      [...new Set(up.seen.map((s) => s.version))],
      ['1.1'],
      'nginx speaks HTTP/1.1 to the instances (uWS drops HTTP/1.0)',
    )
    const connections = new Set(up.seen.map((s) => s.socket)).size
    t.ok(
      connections <= WEIGHTS.length,
      `${REQUESTS} requests over ${connections} upstream connections: one kept per instance`,
    )
  },
)

for (const role of ['master', 'backup']) {
  t.test(
    `keepalived --config-test accepts keepalived-${role}.conf and its service file`,
    { skip: missing('keepalived') },
    async (t) => {
      const ok = run('keepalived', [
        '--config-test',
        '-f',
        join(LVS, 'keepalived', `keepalived-${role}.conf`),
      ])
      t.equal(ok.status, 0, ok.out)
    },
  )
}

t.test(
  'keepalived --config-test refuses a broken service file',
  { skip: missing('keepalived') },
  async (t) => {
    const dir = scratch(t)
    copyFileSync(
      join(LVS, 'keepalived', 'keepalived-master.conf'),
      join(dir, 'keepalived-master.conf'),
    )
    const services = readFileSync(join(LVS, 'keepalived', 'lvs-services.conf'), 'utf8')
    writeFileSync(join(dir, 'lvs-services.conf'), services.replace('lb_kind DR', 'lb_kind XX'))
    const bad = run('keepalived', ['--config-test', '-f', join(dir, 'keepalived-master.conf')])
    t.not(bad.status, 0)
    t.match(bad.out, /unknown \[XX\] routing method/)
  },
)

interface RealServer {
  readonly address: string
  readonly port: number
  /** what keepalived's HTTP_GET sends and expects (its http_protocol defaults to 1.0) */
  readonly path: string
  readonly status: number
  readonly protocol: string
  readonly host: string
}

/** The virtual server of lvs-services.conf: its port, lb_kind and real servers. */
function services(): { port: number; kind: string; reals: RealServer[] } {
  const text = readFileSync(join(LVS, 'keepalived', 'lvs-services.conf'), 'utf8').replace(
    /#.*$/gm,
    '',
  )
  const field = (block: string, name: string) =>
    new RegExp(`^\\s*${name} (\\S+)`, 'm').exec(block)?.[1]
  const [head = '', ...blocks] = text.split(/^\s*real_server /m)
  const reals = blocks.map((block) => {
    const [address = '', port = ''] = block.split(/\s+/)
    return {
      address,
      port: Number(port),
      path: field(block, 'path') ?? '/',
      status: Number(field(block, 'status_code')),
      protocol: field(block, 'http_protocol') ?? '1.0',
      host: field(block, 'virtualhost') ?? address,
    }
  })
  const port = Number(/virtual_server \S+ (\d+)/.exec(head)?.[1])
  return { port, kind: field(head, 'lb_kind') ?? 'NAT', reals }
}

t.test(
  "each real server's health check, sent as keepalived sends it, gets its status from seckill",
  async (t) => {
    const { reals } = services()
    t.ok(reals.length >= 2, `${reals.length} real servers, each checked`)
    const srv = await startServer(t, { workers: 1 })
    for (const r of reals) {
      const conn = new Conn(srv.port)
      const request = `GET ${r.path} HTTP/${r.protocol}\r\nUser-Agent: KeepAliveClient\r\nHost: ${r.host}\r\n`
      await conn.write(`${request}Connection: close\r\n\r\n`)
      const { responses } = await conn.responses(['GET'])
      conn.destroy()
      t.equal(
        responses[0]?.status,
        r.status,
        `${r.address}: GET ${r.path} over HTTP/${r.protocol} answers ${r.status}`,
      )
    }
  },
)

t.test('in direct routing every real server listens on the virtual port', async (t) => {
  // DR rewrites only the MAC address: a packet reaches the real server on the port the client
  // chose. Only NAT maps the virtual port to another one.
  const { port, kind, reals } = services()
  for (const r of reals) {
    if (kind !== 'NAT') t.equal(r.port, port, `${r.address}:${r.port} under lb_kind ${kind}`)
  }
  t.ok(reals.length > 0, 'the service has real servers')
})

t.test(
  'the VRRP pair differs only in state, priority and router_id, and the MASTER is preferred',
  async (t) => {
    // The directives alone: comments and blank lines may say it differently on each.
    const read = (r: string) =>
      readFileSync(join(LVS, 'keepalived', `keepalived-${r}.conf`), 'utf8')
        .split('\n')
        .map((line) => line.replace(/#.*$/, '').trimEnd())
        .filter(Boolean)
        .join('\n')
    const OWN = ['state', 'priority', 'router_id']
    const field = (conf: string, name: string) =>
      new RegExp(`^\\s*${name} (\\S+)`, 'm').exec(conf)?.[1]
    // What is left once each director's own fields are blanked: the VIP, the interface, the
    // virtual_router_id, the timers and the service must be the same on both, or they are no pair.
    const shared = (conf: string) =>
      OWN.reduce((c, name) => c.replace(new RegExp(`^(\\s*${name}) \\S+`, 'm'), '$1 _'), conf)
    const [m, b] = [read('master'), read('backup')]
    t.equal(shared(b), shared(m), 'the same VRRP instance, VIP and service on both directors')
    t.equal(field(m, 'state'), 'MASTER')
    t.equal(field(b, 'state'), 'BACKUP')
    t.ok(
      Number(field(m, 'priority')) > Number(field(b, 'priority')),
      'the MASTER has the higher priority, so it takes the VIP back when it returns',
    )
    t.not(field(m, 'router_id'), field(b, 'router_id'), 'each director names itself')
  },
)

for (const file of ['router.conf', 'director.conf']) {
  t.test(
    `bird -p accepts lvs/bird/${file} and refuses it broken`,
    { skip: missing('bird') },
    async (t) => {
      const ok = run('bird', ['-p', '-c', join(LVS, 'bird', file)])
      t.equal(ok.status, 0, ok.out)
      const dir = scratch(t)
      const broken = join(dir, file)
      writeFileSync(
        broken,
        readFileSync(join(LVS, 'bird', file), 'utf8').replace('area 0 {', 'area 0 { bogus yes;'),
      )
      const bad = run('bird', ['-p', '-c', broken])
      t.not(bad.status, 0)
      t.match(bad.out, /syntax error/)
    },
  )
}

t.test(
  'realserver.sh puts the VIP on lo and silences ARP, and undoes both',
  { skip: missing('ip', 'sysctl') },
  async (t) => {
    const ns = `sk-rs-${process.pid}`
    const add = run('ip', ['netns', 'add', ns])
    t.equal(add.status, 0, `a network namespace of this test's own: ${add.out}`)
    t.teardown(() => run('ip', ['netns', 'del', ns]))
    const script = join(LVS, 'realserver.sh')
    const inNs = (...args: string[]) => run('ip', ['netns', 'exec', ns, ...args])
    const sysctl = (key: string) => inNs('sysctl', '-n', key).out.trim()

    t.equal(inNs(script, 'start', '198.51.100.7').status, 0)
    t.match(inNs('ip', '-4', 'addr', 'show', 'dev', 'lo').out, / 198\.51\.100\.7\/32 /)
    t.equal(sysctl('net.ipv4.conf.all.arp_ignore'), '1')
    t.equal(sysctl('net.ipv4.conf.lo.arp_ignore'), '1')
    t.equal(sysctl('net.ipv4.conf.all.arp_announce'), '2')
    t.equal(inNs(script, 'status', '198.51.100.7').status, 0)

    t.equal(inNs(script, 'stop', '198.51.100.7').status, 0)
    t.notMatch(inNs('ip', '-4', 'addr', 'show', 'dev', 'lo').out, /198\.51\.100\.7/)
    t.equal(sysctl('net.ipv4.conf.all.arp_ignore'), '0')
    t.equal(inNs(script, 'status', '198.51.100.7').status, 1, 'status fails once the VIP is gone')
    t.equal(inNs(script, 'bogus').status, 2, 'a wrong action is a usage error')
  },
)
