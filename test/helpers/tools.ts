import { type ChildProcess, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopped } from '../../bench/harness/spawn'
import type { Teardown } from '../../bench/harness/teardown'

export { until } from '../../bench/harness/poll'
export { stopped }

/**
 * The outside programs the lvs/ tests run (nginx, keepalived, BIRD, ip): .ci/run installs them.
 * A test names what is missing rather than pass without them.
 */
export function missing(...tools: string[]): string | false {
  const absent = tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0)
  return absent.length ? `not installed: ${absent.join(', ')} (.ci/run installs them)` : false
}

/** Run a command; its status and everything it printed. */
export function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  return {
    status: r.status,
    out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`,
  }
}

/** Run a command that must succeed; its output. */
export function sh(cmd: string, ...args: string[]): string {
  const r = run(cmd, args)
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.out}`)
  return r.out
}

export interface Lab {
  /** a scratch folder for pid files and control sockets */
  readonly dir: string
  /** processes run in the namespaces: SIGTERMed at teardown, before the namespaces go */
  readonly procs: ChildProcess[]
}

/**
 * Network namespaces of the test's own (`ip netns add`, loopback up) and a scratch folder; at
 * teardown the processes stop, the namespaces are deleted and the folder removed.
 */
export function lab(t: Teardown, names: string[]): Lab {
  const dir = mkdtempSync(join(tmpdir(), 'seckill-lab-'))
  const procs: ChildProcess[] = []
  t.teardown(async () => {
    await Promise.all(procs.map((p) => stopped(p)))
    for (const ns of names) run('ip', ['netns', 'del', ns])
    rmSync(dir, { recursive: true, force: true })
  })
  for (const ns of names) {
    sh('ip', 'netns', 'add', ns)
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
  }
  return { dir, procs }
}

/** A link between two namespaces: `ifA` in `nsA` joined to `ifB` in `nsB`. */
export function veth(nsA: string, ifA: string, nsB: string, ifB: string): void {
  sh('ip', '-n', nsA, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB)
}
