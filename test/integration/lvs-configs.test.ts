import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../helpers/server'
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

t.test(
  'the nginx upstream is 1:2:3:4 over 3001-3004, speaks HTTP/1.1 and keeps connections',
  async (t) => {
    const conf = readFileSync(join(LVS, 'nginx', 'nginx.conf'), 'utf8')
    const servers = [
      ...conf.matchAll(
        /^\s*server 127\.0\.0\.1:(\d+) weight=(\d+) max_fails=\d+ fail_timeout=\d+s;/gm,
      ),
    ]
    t.same(
      servers.map(([, port, weight]) => [Number(port), Number(weight)]),
      [
        [3001, 1],
        [3002, 2],
        [3003, 3],
        [3004, 4],
      ],
    )
    t.match(conf, /proxy_http_version 1\.1;/)
    t.match(conf, /proxy_set_header Connection "";/)
    t.match(conf, /^\s*keepalive \d+;/m)
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
  'keepalived --config-test refuses a broken service file, and the checks use HTTP/1.1',
  { skip: missing('keepalived') },
  async (t) => {
    const dir = scratch(t)
    copyFileSync(
      join(LVS, 'keepalived', 'keepalived-master.conf'),
      join(dir, 'keepalived-master.conf'),
    )
    const services = readFileSync(join(LVS, 'keepalived', 'lvs-services.conf'), 'utf8')
    t.equal(
      services.match(/http_protocol 1\.1/g)?.length,
      services.match(/HTTP_GET/g)?.length,
      'every HTTP check is HTTP/1.1',
    )
    t.match(services, /lb_kind DR/)
    t.match(services, /path \/healthz/)
    writeFileSync(join(dir, 'lvs-services.conf'), services.replace('lb_kind DR', 'lb_kind XX'))
    const bad = run('keepalived', ['--config-test', '-f', join(dir, 'keepalived-master.conf')])
    t.not(bad.status, 0)
    t.match(bad.out, /unknown \[XX\] routing method/)
  },
)

t.test(
  'the VRRP pair: one MASTER and one BACKUP on the same router id, MASTER preferred',
  async (t) => {
    const read = (r: string) =>
      readFileSync(join(LVS, 'keepalived', `keepalived-${r}.conf`), 'utf8')
    const field = (conf: string, name: string) =>
      new RegExp(`^\\s*${name} (\\S+)`, 'm').exec(conf)?.[1]
    const [m, b] = [read('master'), read('backup')]
    t.equal(field(m, 'state'), 'MASTER')
    t.equal(field(b, 'state'), 'BACKUP')
    t.equal(field(m, 'virtual_router_id'), field(b, 'virtual_router_id'))
    t.ok(Number(field(m, 'priority')) > Number(field(b, 'priority')))
    t.not(field(m, 'router_id'), field(b, 'router_id'))
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
