#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { loadRunConfig, loadStoreConfig } from '../config'
import { configSources } from '../config-file'
import { die } from '../log'
import { configCommand } from './config-command'
import { reloadNode, startDetached, statusOfNode, stopNode } from './node-commands'
import { saleCommand } from './sale-command'

/**
 * The operator's command line (`npx seckill`, `npm run seckill --`): run and drive a node (start,
 * stop, restart, reload, status, logs), look at its configuration, and the store tools (migrate,
 * reconcile, restore). Reads the same configuration as the node (environment over the config
 * file). The exit codes are in USAGE and the README.
 */

/** Each command's usage, as `seckill <command> --help` prints it. */
const HELP: Readonly<Record<string, string>> = {
  start: `seckill start [-d] [--config FILE]
    run a node: in the foreground (as npm start), or with -d in the background, returning once
    it serves (exit 0) or failed to (exit 1, with what it printed). Its pid file, control socket
    and (-d without LOG_FILE) log are in RUN_DIR, named by PORT`,
  stop: `seckill stop [--config FILE]
    stop the node gracefully: it stops accepting, drains its connections, answers every buyer it
    admitted, lets the order writer commit; killed after SHUTDOWN_TIMEOUT_MS + 15 s (exit 1).
    A node that is not running: exit 0`,
  restart: `seckill restart [--config FILE]
    stop (if running), then start -d`,
  reload: `seckill reload [--config FILE]
    replace every worker, one at a time, each new one listening before the old one drains:
    no request refused. New worker code and the primary's configuration; a change to the
    primary itself (cluster/) needs a restart`,
  status: `seckill status [--json] [--sale ID] [--config FILE]
    the node (pid, uptime, version, port, stores reachable, config), each worker (pid, uptime,
    restarts, RSS, CPU, requests/s, quota, in flight, parked) and each live sale (state, sold,
    remaining, writer backlog and lag). With --sale: each worker's copy of that sale, what it
    answers without asking Redis and since when. Exit 3 when no node runs`,
  logs: `seckill logs [-f] [-n N] [--config FILE]
    the last N (default 20) lines of the node's log; -f follows it (across a logrotate)`,
  sale: `seckill sale create ID --stock N [--name TEXT] [--per-user-limit N] [--starts-at ISO]
              [--ends-at ISO] [--payment-ttl SECONDS] [--json] [--url URL] [--config FILE]
       seckill sale (start | close | show) ID [--json] [--url URL] [--config FILE]
       seckill sale stock ID (--add N | --remove N) [--json] [--url URL] [--config FILE]
    the admin API on the node at http://HOST:PORT (or --url), with SECKILL_ADMIN_TOKEN or, when
    that is not set, the token the node generated (asked over its control socket). stock adds
    units to a sale or removes unsold ones, while it sells. Exit 1 when the API refuses (its
    error is printed, e.g. stock_conflict with how many units could be removed), 3 when no
    node answers`,
  config: `seckill config [--config FILE] [--json]
    the effective configuration (secrets redacted) and where each value came from: env, file
    (--config FILE, else SECKILL_CONFIG, else ./seckill.config.json), default`,
  migrate: `seckill migrate [--config FILE]
    apply the PostgreSQL migrations`,
  reconcile: `seckill reconcile [--sale ID]... [--repair] [--json] [--config FILE]
    compare Redis and PostgreSQL per sale; with --repair, make PostgreSQL and the counters
    agree with Redis's orders. Exit 1 when drift is left`,
  restore: `seckill restore (--sale ID... | --all) [--merge] [--chunk N] [--json] [--config FILE]
    rebuild sales Redis lost from PostgreSQL, left not started; refuses a sale that exists in
    Redis unless --merge (which only adds what PostgreSQL has and Redis lacks). Exit 1 when a
    sale is not restored`,
}

const USAGE = `usage: seckill <command> [options]   (seckill <command> --help: that command)

${Object.values(HELP).join('\n')}

exit codes: 0 done (no drift, all repaired or restored), 1 failed (a start, a reload, a stop
that had to kill), drift left or a sale not restored, 2 bad usage, a bad configuration or a
store that cannot be reached, 3 no node running (status, reload, sale)`

/** The lines `seckill logs` prints unless told; a count that is not a whole number is refused. */
const DEFAULT_LINES = 20

function lineCount(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LINES
  if (!/^[0-9]{1,9}$/.test(text)) throw new Error(`-n takes a number of lines, not "${text}"`)
  return Number(text)
}

/** The command's exit code; null for a foreground node, which runs until it is stopped. */
async function main(argv: string[]): Promise<number | null> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      sale: { type: 'string', multiple: true },
      repair: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      all: { type: 'boolean', default: false },
      merge: { type: 'boolean', default: false },
      chunk: { type: 'string' },
      config: { type: 'string' },
      detach: { type: 'boolean', short: 'd', default: false },
      follow: { type: 'boolean', short: 'f', default: false },
      lines: { type: 'string', short: 'n' },
      name: { type: 'string' },
      stock: { type: 'string' },
      'per-user-limit': { type: 'string' },
      'starts-at': { type: 'string' },
      'ends-at': { type: 'string' },
      'payment-ttl': { type: 'string' },
      add: { type: 'string' },
      remove: { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  const command = positionals[0]
  if (values.help || command === 'help') {
    const which = command === 'help' ? positionals[1] : command
    process.stdout.write(`${(which !== undefined && HELP[which]) || USAGE}\n`)
    return 0
  }
  // The same sources as the node: --config FILE, SECKILL_CONFIG, ./seckill.config.json, then env.
  const sources = configSources(process.env, values.config)
  switch (command) {
    case 'config':
      return configCommand(sources, values.json)
    case 'start':
      if (!values.detach) {
        // Loaded only here: the other commands start fast without the node's modules.
        const { runNodeOrDie } = await import('../../cluster/run-node')
        runNodeOrDie(values.config === undefined ? [] : ['--config', values.config], process.env)
        return null
      }
      return startDetached(loadRunConfig(sources.env), values.config)
    case 'stop':
      return stopNode(loadRunConfig(sources.env))
    case 'restart': {
      const run = loadRunConfig(sources.env)
      const stopped = await stopNode(run)
      return stopped === 0 ? startDetached(run, values.config) : stopped
    }
    case 'reload':
      return reloadNode(loadRunConfig(sources.env))
    case 'status':
      return statusOfNode(loadRunConfig(sources.env), values.json, values.sale?.[0])
    case 'logs':
      return (await import('./logs-command')).logsCommand(
        loadRunConfig(sources.env),
        lineCount(values.lines),
        values.follow,
      )
    case 'sale':
      return saleCommand(loadRunConfig(sources.env), sources.env.SECKILL_ADMIN_TOKEN || undefined, {
        action: positionals[1],
        id: positionals[2],
        name: values.name,
        stock: values.stock,
        perUserLimit: values['per-user-limit'],
        startsAt: values['starts-at'],
        endsAt: values['ends-at'],
        paymentTtl: values['payment-ttl'],
        add: values.add,
        remove: values.remove,
        url: values.url,
        json: values.json,
      })
  }
  const config = loadStoreConfig(sources.env)
  // Loaded only for these commands: the others start without the store clients.
  const store = await import('./store-commands')
  switch (command) {
    case 'migrate':
      return store.migrateCommand(config)
    case 'reconcile':
      return store.reconcileCommand(config, values.sale ?? [], values.repair, values.json)
    case 'restore':
      return store.restoreCommandOf(config, {
        sales: values.sale ?? [],
        all: values.all,
        merge: values.merge,
        chunk: values.chunk === undefined ? undefined : Number(values.chunk),
        json: values.json,
      })
    default:
      throw new Error(command ? `unknown command "${command}"\n${USAGE}` : USAGE)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== null) process.exit(code)
  },
  (err: Error) => die(err.message, 2),
)
