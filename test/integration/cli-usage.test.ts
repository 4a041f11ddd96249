import { spawnSync } from 'node:child_process'
import t from 'tap'
import { CLI } from '../helpers/server'

/** The seckill command's help and bad usage: no store is asked before the usage is right. */
function seckill(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

t.test('every command has its own --help, exit 0', async (t) => {
  for (const command of ['config', 'migrate', 'reconcile', 'restore']) {
    const r = seckill(command, '--help')
    t.equal(r.code, 0, `${command} --help: exit 0`)
    t.match(r.out, new RegExp(`^seckill ${command} `), `${command} --help: its own usage`)
    t.notMatch(r.out, /exit codes:/, `${command} --help: not the whole list`)
    t.equal(seckill('help', command).out, r.out, `seckill help ${command} says the same`)
  }
  const all = seckill('--help')
  t.equal(all.code, 0)
  t.match(all.out, /exit codes: 0 .* 1 .*\n2 bad usage/s, 'the overview names the exit codes')
})

t.test('bad usage is one clear line on stderr and exit 2', async (t) => {
  const cases: [string, string[], RegExp][] = [
    ['no command', [], /usage: seckill <command>/],
    ['an unknown command', ['bogus'], /unknown command "bogus"/],
    ['an unknown option', ['migrate', '--bogus'], /Unknown option '--bogus'/],
    ['a config file that does not exist', ['restore', '--config', '/dev/null/x'], /not found/],
  ]
  for (const [what, args, message] of cases) {
    const r = seckill(...args)
    t.equal(r.code, 2, `${what}: exit 2`)
    t.match(r.err, message, `${what}: says why`)
    t.equal(r.out, '', `${what}: nothing on stdout`)
  }
})
