import t from 'tap'
import { artifact, noBrowser, openBrowser } from '../helpers/browser'
import { Buyers } from '../helpers/live-sale'
import { waitFor } from '../helpers/pg'
import { ADMIN_TOKEN, startServer } from '../helpers/server'

/**
 * The operator's console and the live dashboard in a real browser (Debian's chromium, headless)
 * against a real node: a sale created, started, topped up and closed through the page, a wrong
 * token refused in the page, and the dashboard's counters moving while buyers buy. Screenshots
 * go to test/artifacts/console-*.png and dashboard-*.png.
 */

const WAIT = { timeout: 10_000 }

t.test('the console and the dashboard in a browser', { skip: noBrowser }, async (t) => {
  const srv = await startServer(t, { workers: 2 })
  const browser = await openBrowser(t)
  const page = await browser.newPage()
  // Closing a sale asks for a confirmation: the operator says yes.
  page.on('dialog', (d) => {
    d.accept().catch(() => {})
  })
  const base = `http://127.0.0.1:${srv.port}`
  const row = (id: string) => page.locator(`tr[data-sale="${id}"]`)
  const cells = async (id: string) => (await row(id).locator('td').allTextContents()).slice(0, 6)

  t.test('a wrong token is refused in the page, with the 401 said plainly', async (t) => {
    await page.goto(`${base}/admin`)
    await page.fill('#token', 'not-the-token')
    await page.click('#token-form button[type=submit]')
    await page.locator('#msg.error').waitFor(WAIT)
    t.match(await page.textContent('#msg'), /401/)
    t.notOk(page.url().includes('not-the-token'), 'the token is not in the URL')
    await page.screenshot({ path: artifact('console-wrong-token.png'), fullPage: true })
  })

  t.test('a sale is created, started, topped up and closed through the console', async (t) => {
    await page.fill('#token', ADMIN_TOKEN)
    await page.click('#token-form button[type=submit]')
    await page.locator('#msg.ok').waitFor(WAIT)
    t.notOk(page.url().includes(ADMIN_TOKEN), 'the token is not in the URL')

    await page.fill('#create-form [name=id]', 'web-sale')
    await page.fill('#create-form [name=name]', 'Web sale')
    await page.fill('#create-form [name=stock]', '5')
    await page.click('#create-form button[type=submit]')
    await row('web-sale').waitFor(WAIT)
    t.same(await cells('web-sale'), ['web-sale', 'Web sale', 'scheduled', '5', '0', '5'])

    await page.getByRole('button', { name: 'Start web-sale' }).click()
    await row('web-sale')
      .locator('td', { hasText: /^open$/ })
      .waitFor(WAIT)

    await page.fill('[name="units-web-sale"]', '3')
    await page.getByRole('button', { name: 'Add web-sale' }).click()
    await row('web-sale').locator('td', { hasText: /^8$/ }).first().waitFor(WAIT)
    t.same(await cells('web-sale'), ['web-sale', 'Web sale', 'open', '8', '0', '8'])
    t.equal((await srv.state('web-sale')).stock, 8, 'Redis holds the topped-up stock')

    // An API error is shown with its status, code and detail.
    await page.fill('[name="units-web-sale"]', '100')
    await page.getByRole('button', { name: 'Remove web-sale' }).click()
    await page.locator('#msg.error', { hasText: 'stock_conflict' }).waitFor(WAIT)
    t.match(await page.textContent('#msg'), /^409 stock_conflict: /)
    await page.screenshot({ path: artifact('console-error.png'), fullPage: true })

    await page.getByRole('button', { name: 'Close web-sale' }).click()
    await row('web-sale')
      .locator('td', { hasText: /^closed$/ })
      .waitFor(WAIT)
    const api = await srv.http.request('GET', '/api/v1/sales/web-sale')
    t.match(api.json, { state: 'closed', stock: 8, sold: 0 })
    await page.screenshot({ path: artifact('console-closed.png'), fullPage: true })

    // The table refreshes every 2 s; a keyboard user's focus stays where it was.
    await page.getByRole('button', { name: 'Add web-sale' }).focus()
    await page.waitForTimeout(2300)
    t.equal(
      await page.evaluate("document.activeElement?.getAttribute('aria-label')"),
      'Add web-sale',
      'the focus survives a refresh',
    )

    await page.click('#lang')
    t.equal(await row('web-sale').locator('td').nth(2).textContent(), '已结束')
    await page.screenshot({ path: artifact('console-zh.png'), fullPage: true })
    await page.click('#lang')
  })

  t.test('the dashboard shows the counters moving while buyers buy', async (t) => {
    await srv.sale('dash', { stock: 100_000, perUserLimit: 1 })
    // Same tab: the token is still in its sessionStorage.
    await page.goto(`${base}/dashboard`)
    await page.locator('#msg.ok').waitFor(WAIT)
    const sold = async () =>
      Number(
        await page
          .locator('#sales tr', { hasText: 'dash' })
          .locator('td')
          .nth(3)
          .textContent({ timeout: 10_000 }),
      )
    const buyers = new Buyers({
      port: srv.port,
      saleId: 'dash',
      lanes: 8,
      gapMs: 10,
      compatEvery: 0,
    })
    buyers.start()
    try {
      await waitFor('a rate on the page', async () => Number(await page.textContent('#rps')) > 0)
      const first = await sold()
      await waitFor('the sold count to go up on the page', async () => (await sold()) > first)
      t.ok((await sold()) > first, 'the sold count went up on the page')
      t.ok(Number(await page.textContent('#rps')) > 0, 'requests per second shown')
      t.ok((await page.locator('#workers tr').count()) === 2, 'a row per worker')
      await page.screenshot({ path: artifact('dashboard-live.png'), fullPage: true })
    } finally {
      await buyers.stop()
    }
  })

  t.test('the dashboard refuses a wrong token', async (t) => {
    const other = await browser.newPage()
    await other.goto(`${base}/dashboard`)
    await other.fill('#token', 'not-the-token')
    await other.click('#token-form button[type=submit]')
    await other.locator('#msg.error').waitFor(WAIT)
    t.match(await other.textContent('#msg'), /401/)
    await other.screenshot({ path: artifact('dashboard-wrong-token.png'), fullPage: true })
  })
})
