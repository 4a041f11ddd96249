import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { ROOT } from '../../bench/harness/spawn'
import type { Teardown } from '../../bench/harness/teardown'

/**
 * A real browser for the page tests: Debian's chromium (apt-get install chromium; .ci/run
 * installs it), driven by playwright-core, headless. Screenshots go to test/artifacts/ (ignored
 * by git), to be looked at.
 */
export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser tests cannot run here, or false. */
export const noBrowser: string | false = existsSync(CHROMIUM)
  ? false
  : `not installed: ${CHROMIUM} (apt-get install chromium; .ci/run installs it)`

export async function openBrowser(t: Teardown): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // As root (CI, this machine) Chromium refuses to start with its sandbox.
    args: ['--no-sandbox'],
  })
  t.teardown(() => browser.close())
  return browser
}

/** Where a test saves its screenshots (made if missing). */
export function artifact(name: string): string {
  const dir = join(ROOT, 'test', 'artifacts')
  mkdirSync(dir, { recursive: true })
  return join(dir, name)
}
