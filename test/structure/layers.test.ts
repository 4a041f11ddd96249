import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

/**
 * The layers of the README's architecture section, held against the code: a file imports only
 * from its own layer or a lower one, and no chain of imports comes back to where it started.
 */
const ROOT = resolve(__dirname, '..', '..')

/** Bottom to top; the first prefix a path starts with names its layer. */
const LAYERS: readonly (readonly [name: string, prefixes: readonly string[]])[] = [
  [
    'base',
    [
      'src/config.ts',
      'src/config-file.ts',
      'src/errors.ts',
      'src/log.ts',
      'src/identifier.ts',
      'src/uws.ts',
    ],
  ],
  ['stores', ['src/store/', 'src/db/']],
  ['domain', ['src/sale/', 'src/orders/', 'src/purchase/', 'src/buyer-token.ts']],
  ['node parts', ['src/http/', 'src/ipc.ts', 'src/metrics.ts', 'src/control/']],
  ['processes', ['src/worker/', 'cluster/', 'src/cli/']],
  ['bench', ['bench/']],
]

function layerOf(file: string): number {
  const i = LAYERS.findIndex(([, prefixes]) => prefixes.some((p) => file.startsWith(p)))
  if (i < 0) throw new Error(`${file} is in no layer: add it to the README and to this table`)
  return i
}

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

/** The project files `file` imports (relative specifiers only; packages are outside). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const specs = [...text.matchAll(/(?:from|import|require\()\s*'(\.[^']+)'/g)].map((m) => m[1]!)
  return specs.map((s) => {
    const base = relative(ROOT, resolve(join(ROOT, dirname(file)), s))
    for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
      try {
        if (statSync(join(ROOT, candidate)).isFile()) return candidate
      } catch {}
    }
    throw new Error(`${file}: cannot resolve '${s}'`)
  })
}

const files = ['src', 'cluster', 'bench'].flatMap(sources)
const graph = new Map(files.map((f) => [f, importsOf(f)]))

t.test('every file imports only from its own layer or a lower one', async (t) => {
  const upward: string[] = []
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      if (layerOf(dep) > layerOf(file)) {
        upward.push(
          `${file} (${LAYERS[layerOf(file)]![0]}) -> ${dep} (${LAYERS[layerOf(dep)]![0]})`,
        )
      }
    }
  }
  t.same(upward, [], 'no import runs up a layer')
})

t.test('no import cycle', async (t) => {
  const state = new Map<string, 'open' | 'done'>()
  const cycles: string[] = []
  const visit = (file: string, path: string[]): void => {
    state.set(file, 'open')
    for (const dep of graph.get(file) ?? []) {
      if (state.get(dep) === 'open') cycles.push([...path, file, dep].join(' -> '))
      else if (!state.has(dep)) visit(dep, [...path, file])
    }
    state.set(file, 'done')
  }
  for (const file of graph.keys()) if (!state.has(file)) visit(file, [])
  t.same(cycles, [], 'no file reaches itself through its imports')
})
