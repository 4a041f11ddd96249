import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../helpers/server'
import { lab, missing, sh, stopped, until, veth } from '../helpers/tools'

/**
 * The keepalived MASTER/BACKUP pair, as shipped, in two network namespaces this test creates and
 * joins with one link (their eth0). keepalived runs VRRP only (--vrrp): this kernel has no IPVS,
 * so the LVS service itself cannot run here, but the VIP's failover does not need it.
 */
const VIP = '192.0.2.100'
const tag = `${process.pid % 100000}`
const NS = { master: `sk-ka-${tag}`, backup: `sk-kb-${tag}` }

function holdsVip(ns: string): boolean {
  return sh('ip', '-n', ns, '-4', 'addr', 'show', 'dev', 'eth0').includes(` ${VIP}/32 `)
}

function keepalived(role: 'master' | 'backup', dir: string): ChildProcess {
  const conf = join(ROOT, 'lvs', 'keepalived', `keepalived-${role}.conf`)
  // Own pid files: two keepalived instances on one host would otherwise refuse to start.
  const pids = [
    '-p',
    join(dir, `${role}.pid`),
    '-r',
    join(dir, `${role}-vrrp.pid`),
    '-c',
    join(dir, `${role}-check.pid`),
  ]
  return spawn(
    'ip',
    [
      'netns',
      'exec',
      NS[role],
      'keepalived',
      '--vrrp',
      '--dont-fork',
      '--log-console',
      '-f',
      conf,
      ...pids,
    ],
    {
      stdio: 'ignore',
    },
  )
}

t.test(
  'the VIP lives on the MASTER, moves to the BACKUP when it dies, and comes back',
  { skip: missing('keepalived', 'ip') },
  async (t) => {
    const { dir, procs } = lab(t, Object.values(NS))
    veth(NS.master, 'eth0', NS.backup, 'eth0')
    for (const [ns, addr] of [
      [NS.master, '10.0.3.1/24'],
      [NS.backup, '10.0.3.2/24'],
    ] as const) {
      sh('ip', '-n', ns, 'addr', 'add', addr, 'dev', 'eth0')
      sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
    }

    const master = keepalived('master', dir)
    procs.push(master, keepalived('backup', dir))
    const first = await until(() => holdsVip(NS.master) && !holdsVip(NS.backup), {
      timeoutMs: 15_000,
    })
    t.ok(first >= 0, `the MASTER holds the VIP, the BACKUP does not (after ${first} ms)`)

    await stopped(master)
    const failover = await until(() => holdsVip(NS.backup) && !holdsVip(NS.master), {
      timeoutMs: 15_000,
    })
    t.ok(
      failover >= 0,
      `MASTER stopped (its last advertisement says so): the BACKUP holds the VIP after ${failover} ms`,
    )

    procs.push(keepalived('master', dir))
    const back = await until(() => holdsVip(NS.master) && !holdsVip(NS.backup), {
      timeoutMs: 15_000,
    })
    t.ok(back >= 0, `MASTER back: it takes the VIP back (after ${back} ms)`)
  },
)
