import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ROOT } from '../helpers/server'

/**
 * cluster/seckill.service, checked by systemd's own verifier (the unit's syntax, its
 * directives, the commands it runs) with its install paths pointed at this checkout, and held
 * to what the README promises: reload is `seckill reload`, the stop timeout is above the
 * graceful one, a failure restarts it.
 */
const UNIT = join(ROOT, 'cluster', 'seckill.service')

t.test('the systemd unit passes systemd-analyze verify', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'seckill-unit-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const here = readFileSync(UNIT, 'utf8')
    .replaceAll('/usr/bin/node', process.execPath)
    .replaceAll('/opt/seckill', ROOT)
  const file = join(dir, 'seckill.service')
  writeFileSync(file, here)
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' })
  t.equal(r.error, undefined, 'systemd-analyze runs (Debian: apt-get install systemd)')
  t.equal(r.status, 0, `verify: exit 0\n${r.stdout}${r.stderr}`)
  t.equal(r.stderr.trim(), '', 'no warning')
})

t.test(
  'the unit reloads with seckill reload, stops after the graceful stop, restarts on failure',
  async (t) => {
    const unit = readFileSync(UNIT, 'utf8')
    const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1]
    t.match(value('ExecStart'), /seckill\.js start --config /)
    t.match(value('ExecReload'), /seckill\.js reload --config /)
    t.equal(value('KillMode'), 'mixed', 'SIGTERM to the primary only: it stops its workers')
    t.equal(value('Restart'), 'on-failure')
    // SHUTDOWN_TIMEOUT_MS (10 s default) for the workers' drain, then the writer's last step.
    t.ok(Number(value('TimeoutStopSec')) > 10 + 15, 'above the graceful stop and its margin')
    t.equal(value('Environment'), 'RUN_DIR=/run/seckill')
    t.equal(value('RuntimeDirectory'), 'seckill')
  },
)
