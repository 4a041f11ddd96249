import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../helpers/server'
import { lab, missing, run, sh, stopped, until, veth } from '../helpers/tools'

/**
 * OSPF ECMP with the shipped BIRD configs, in network namespaces this test creates: a router
 * (lvs/bird/router.conf) and two directors (lvs/bird/director.conf, unchanged on both), each
 * holding the VIP on vip0. The router must install one route to the VIP with both directors as
 * next hops, and fall back to the other when one director's BIRD stops.
 *
 *   router eth1 10.0.1.1/30 ── eth0 10.0.1.2/30 director a (vip0 192.0.2.100/32)
 *   router eth2 10.0.2.1/30 ── eth0 10.0.2.2/30 director b (vip0 192.0.2.100/32)
 */
const VIP = '192.0.2.100'
const tag = `${process.pid % 100000}`
const NS = { router: `sk-r-${tag}`, a: `sk-da-${tag}`, b: `sk-db-${tag}` }

const inNs = (ns: string, ...args: string[]) => sh('ip', 'netns', 'exec', ns, ...args)

function build(): void {
  const links = [
    { director: NS.a, routerIf: 'eth1', net: '10.0.1' },
    { director: NS.b, routerIf: 'eth2', net: '10.0.2' },
  ]
  for (const { director, routerIf, net } of links) {
    veth(NS.router, routerIf, director, 'eth0')
    sh('ip', '-n', NS.router, 'addr', 'add', `${net}.1/30`, 'dev', routerIf)
    sh('ip', '-n', NS.router, 'link', 'set', routerIf, 'up')
    sh('ip', '-n', director, 'addr', 'add', `${net}.2/30`, 'dev', 'eth0')
    sh('ip', '-n', director, 'link', 'set', 'eth0', 'up')
    // director.conf suggests a dummy interface; this kernel has no dummy module, and a veth
    // whose peer stays in the same namespace does the same here: an up link holding the VIP.
    sh('ip', '-n', director, 'link', 'add', 'vip0', 'type', 'veth', 'peer', 'name', 'vip0-peer')
    sh('ip', '-n', director, 'link', 'set', 'vip0-peer', 'up')
    sh('ip', '-n', director, 'addr', 'add', `${VIP}/32`, 'dev', 'vip0')
    sh('ip', '-n', director, 'link', 'set', 'vip0', 'up')
  }
}

function bird(ns: string, conf: string, dir: string): ChildProcess {
  // -f: stay in the foreground (the test owns the process); own control socket and pid file.
  return spawn(
    'ip',
    [
      'netns',
      'exec',
      ns,
      'bird',
      '-f',
      '-c',
      join(ROOT, 'lvs', 'bird', conf),
      '-s',
      join(dir, `${ns}.ctl`),
      '-P',
      join(dir, `${ns}.pid`),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
}

/** The router's next hops towards the VIP. */
function nextHops(): string[] {
  const out = inNs(NS.router, 'ip', '-4', 'route', 'show', `${VIP}/32`)
  return [...out.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort()
}

/** GET http://VIP/ from the router: the name of the director that answered. */
function ask(): string {
  return run('ip', ['netns', 'exec', NS.router, 'curl', '-s', '--max-time', '2', `http://${VIP}/`])
    .out
}

t.test(
  'the router learns the VIP from both directors and falls back to one',
  { skip: missing('bird', 'ip', 'curl') },
  async (t) => {
    // BIRD and the directors' HTTP answerers run in the lab's namespaces.
    const { dir, procs } = lab(t, Object.values(NS))
    build()
    const birdA = bird(NS.a, 'director.conf', dir)
    procs.push(bird(NS.router, 'router.conf', dir), birdA, bird(NS.b, 'director.conf', dir))
    // Each director answers HTTP on the VIP with its name: which one a request reached.
    for (const [name, ns] of [
      ['a', NS.a],
      ['b', NS.b],
    ] as const) {
      const code = `require('http').createServer((q, s) => s.end('director ${name}')).listen(80, '${VIP}')`
      procs.push(
        spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { stdio: 'ignore' }),
      )
    }

    const both = await until(() => nextHops().join() === '10.0.1.2,10.0.2.2', { timeoutMs: 30_000 })
    t.ok(both >= 0, `one route to ${VIP} with both directors as next hops (after ${both} ms)`)
    const route = inNs(NS.router, 'ip', '-4', 'route', 'show', `${VIP}/32`)
    t.match(route, /proto bird/, 'installed by BIRD')
    t.equal(route.match(/nexthop via/g)?.length, 2, `a multipath route:\n${route}`)
    t.match(ask(), /^director [ab]$/, 'a request from the router to the VIP reaches a director')

    await stopped(birdA)
    const fallback = await until(() => nextHops().join() === '10.0.2.2', { timeoutMs: 15_000 })
    t.ok(
      fallback >= 0,
      `director a's BIRD stopped: the route falls back to director b alone (after ${fallback} ms)`,
    )
    t.notMatch(
      inNs(NS.router, 'ip', '-4', 'route', 'show', `${VIP}/32`),
      /nexthop/,
      'a single next hop',
    )
    t.equal(ask(), 'director b', 'and requests to the VIP now reach director b')

    procs.push(bird(NS.a, 'director.conf', dir))
    const back = await until(() => nextHops().join() === '10.0.1.2,10.0.2.2', { timeoutMs: 30_000 })
    t.ok(back >= 0, `director a back: both next hops again (after ${back} ms)`)
  },
)
