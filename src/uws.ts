import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type * as Uws from '@trufflesuite/uws-js-unofficial'

/**
 * Load the native uWebSockets.js binary explicitly.
 *
 * The package's own entry silently falls back to a slow pure-JS server when the binary does not
 * fit this Node; we never want that, so we bypass it and load the .node file ourselves.
 */
const PKG = '@trufflesuite/uws-js-unofficial'
const SUPPORTED_ABIS: Readonly<Record<string, string>> = { '93': '16', '108': '18', '115': '20' }

function load(): typeof Uws {
  const abi = process.versions.modules
  const file = `uws_${process.platform}_${process.arch}_${abi}.node`
  const root = dirname(require.resolve(`${PKG}/package.json`))
  const path = join(root, 'binaries', file)
  const supported = `Node ${Object.values(SUPPORTED_ABIS).join(', ')} on linux x64/arm64/arm, darwin, win32 x64 (glibc >= 2.27)`
  if (!existsSync(path)) {
    throw new Error(
      `uWebSockets.js: no native binary ${file} in ${PKG} for Node ${process.version} ` +
        `(ABI ${abi}, ${process.platform}/${process.arch}). Supported: ${supported}. ` +
        'Use Node 20 (see README).',
    )
  }
  try {
    return require(path) as typeof Uws
  } catch (err) {
    throw new Error(
      `uWebSockets.js: the native binary ${path} does not load on this machine: ${(err as Error).message}. ` +
        `Supported: ${supported}.`,
    )
  }
}

export const uws: typeof Uws = load()
export type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
} from '@trufflesuite/uws-js-unofficial'
