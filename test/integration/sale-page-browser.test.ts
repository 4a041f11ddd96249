import t from 'tap'
import { artifact, noBrowser, openBrowser } from '../helpers/browser'
import { waitFor } from '../helpers/pg'
import { startServer } from '../helpers/server'

/**
 * The product page in a real browser (chromium, headless) against a real node: the countdown on
 * the server's clock, the button opening by itself, a purchase, a payment, a sold-out, and a
 * double click that makes one order. Screenshots: test/artifacts/sale-page-*.png.
 */
t.test(
  'a buyer counts down, buys when the sale opens, pays; the next one sees it sold out',
  { skip: noBrowser },
  async (t) => {
    const srv = await startServer(t, { workers: 1 })
    const browser = await openBrowser(t)
    const startsAt = new Date(Date.now() + 3000).toISOString()
    await srv.sale('brA', { stock: 1, name: 'Phone 手机', startsAt }, false)

    const alice = await (await browser.newContext({ locale: 'en-US' })).newPage()
    await alice.goto(`http://127.0.0.1:${srv.port}/sales/brA`)
    await alice.getByRole('heading', { name: 'Phone 手机' }).waitFor()
    await alice.locator('#clock', { hasText: /Starts in 00:00:0[0-3]/ }).waitFor()
    t.ok(await alice.locator('#buy').isDisabled(), 'the button is off before the start')
    await alice.getByLabel('Your id').fill('alice')
    await alice.screenshot({ path: artifact('sale-page-countdown.png') })

    await alice.locator('#buy:enabled').waitFor({ timeout: 6000 })
    t.pass('the button turned on by itself at the start')
    await alice.getByRole('button', { name: 'Buy' }).click()
    const answer = alice.getByRole('status')
    await answer.filter({ hasText: /Reserved: order .+ Pay before .+ left/ }).waitFor()
    t.pass('the reserved order and its deadline are shown')
    await alice.screenshot({ path: artifact('sale-page-reserved.png') })

    await alice.getByRole('button', { name: 'Pay' }).click()
    await answer.filter({ hasText: /^Paid: order/ }).waitFor()
    t.ok(await alice.locator('#order').isHidden(), 'Pay and Cancel are gone once paid')
    await alice.screenshot({ path: artifact('sale-page-paid.png') })

    // A second buyer, whose browser prefers Chinese.
    const bob = await (await browser.newContext({ locale: 'zh-CN' })).newPage()
    await bob.goto(`http://127.0.0.1:${srv.port}/sales/brA`)
    await bob.locator('#status', { hasText: '已售罄' }).waitFor()
    t.pass('zh by default: 已售罄')
    t.ok(await bob.locator('#buy').isDisabled(), 'no button to press after the sell-out')
    await bob.getByRole('button', { name: 'English' }).click()
    await bob.locator('#status', { hasText: 'Sold out' }).waitFor()
    t.pass('the toggle switches to English: Sold out')
    await bob.screenshot({ path: artifact('sale-page-sold-out.png') })

    await waitFor('the paid order in PostgreSQL', async () => {
      const r = await srv.pg.pool.query(`SELECT user_id, status FROM orders WHERE sale_id = 'brA'`)
      return r.rows.length === 1 && r.rows[0].user_id === 'alice' && r.rows[0].status === 'paid'
    })
    t.pass('PostgreSQL holds one order, alice, paid')
  },
)

t.test(
  'a double click, or three submits in one turn, makes one order per purchase',
  { skip: noBrowser },
  async (t) => {
    const srv = await startServer(t, { workers: 1 })
    const browser = await openBrowser(t)
    await srv.sale('brB', { stock: 10, perUserLimit: 10, name: 'Many' })
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage()
    await page.goto(`http://127.0.0.1:${srv.port}/sales/brB`)
    await page.getByLabel('Your id').fill('carol')
    await page.locator('#buy:enabled').waitFor()
    const answer = page.getByRole('status')
    await page.locator('#buy').dblclick()
    await answer.filter({ hasText: /^Reserved/ }).waitFor()
    // Then a new purchase, sent three times in one turn of the page's loop (no click can be faster).
    await page.evaluate(`{
    const form = document.getElementById('buy-form')
    form.requestSubmit(); form.requestSubmit(); document.getElementById('buy').click()
  }`)
    await page.locator('#buy:enabled').waitFor()
    await waitFor('the orders in PostgreSQL', async () => {
      const r = await srv.pg.pool.query(
        `SELECT count(*)::int AS n FROM orders WHERE sale_id = 'brB'`,
      )
      return r.rows[0].n >= 2
    })
    // Redis holds an order before anyone answers it: anything more sent would be there by now.
    const state = await srv.state('brB')
    t.equal(state.orders, 2, 'Redis holds two orders: one per purchase, none per click')
    t.equal(state.sold, 2)
    const rows = await srv.pg.pool.query(
      `SELECT user_id, count(DISTINCT idempotency_key)::int AS keys FROM orders WHERE sale_id = 'brB' GROUP BY 1`,
    )
    t.same(
      rows.rows,
      [{ user_id: 'carol', keys: 2 }],
      'PostgreSQL holds two orders of carol, two keys',
    )
  },
)

t.test(
  'a retry after 429 or 503 reuses the purchase key and makes one order',
  { skip: noBrowser },
  async (t) => {
    const srv = await startServer(t, { workers: 1 })
    const browser = await openBrowser(t)
    await srv.sale('brC', { stock: 10, perUserLimit: 10, name: 'Retry' })
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage()
    // The first two attempts are answered here, as a rate limit and a lost Redis answer would be;
    // the third reaches the node.
    const keys: string[] = []
    await page.route('**/api/v1/sales/brC/orders', async (route) => {
      keys.push(route.request().headers()['idempotency-key'] ?? '')
      if (keys.length === 1) {
        return route.fulfill({
          status: 429,
          headers: { 'retry-after': '2', 'content-type': 'application/json' },
          body: '{"error":"rate_limited","detail":"slow down"}',
        })
      }
      if (keys.length === 2) {
        return route.fulfill({
          status: 503,
          contentType: 'application/json',
          body: '{"error":"outcome_unknown","detail":"no answer"}',
        })
      }
      return route.continue()
    })
    await page.goto(`http://127.0.0.1:${srv.port}/sales/brC`)
    await page.getByLabel('Your id').fill('dave')
    const answer = page.getByRole('status')
    await page.locator('#buy:enabled').click()
    await answer.filter({ hasText: /Too many requests: retry in [12] s/ }).waitFor()
    t.ok(await page.locator('#buy').isDisabled(), 'the button waits out Retry-After')
    await page.getByRole('button', { name: 'Retry' }).click({ timeout: 4000 })
    await answer.filter({ hasText: /may have an order/ }).waitFor()
    await page.getByRole('button', { name: 'Retry' }).click()
    await answer.filter({ hasText: /^Reserved/ }).waitFor()
    t.equal(keys.length, 3, 'three attempts sent')
    t.match(keys[0], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    t.same(new Set(keys).size, 1, 'all with the same Idempotency-Key')
    t.equal((await srv.state('brC')).orders, 1, 'one order')
    await page.getByRole('button', { name: 'Buy' }).waitFor()
    t.pass('after the answer the button buys anew')
  },
)
