import { spawnSync } from 'node:child_process'
import t from 'tap'
import { CLI } from '../helpers/server'

/** The seckill command's help and bad usage: no store is asked before the usage is right. */
function seckillWith(env: Record<string, string>, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 20000,
    env: { ...process.env, ...env },
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function seckill(...args: string[]) {
  return seckillWith({}, ...args)
}

t.test('every command has its own --help, exit 0', async (t) => {
  const commands = ['start', 'stop', 'restart', 'reload', 'status', 'logs', 'sale', 'config']
  for (const command of [...commands, 'migrate', 'reconcile', 'restore']) {
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
  const cases: [string, string[], RegExp, Record<string, string>?][] = [
    ['no command', [], /usage: seckill <command>/],
    ['an unknown command', ['bogus'], /unknown command "bogus"/],
    ['an unknown option', ['migrate', '--bogus'], /Unknown option '--bogus'/],
    ['a config file that does not exist', ['restore', '--config', '/dev/null/x'], /not found/],
    ['a line count that is no number', ['logs', '-n', 'many'], /-n takes a number of lines/],
    ['an option a command does not know', ['start', '--detached'], /Unknown option '--detached'/],
    ['a bad value for where the node runs', ['status'], /PORT must be an integer/, { PORT: 'x' }],
  ]
  for (const [what, args, message, env = {}] of cases) {
    const r = seckillWith(env, ...args)
    t.equal(r.code, 2, `${what}: exit 2`)
    t.match(r.err, message, `${what}: says why`)
    t.equal(r.out, '', `${what}: nothing on stdout`)
  }
})
