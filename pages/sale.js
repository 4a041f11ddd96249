// The sale's product page: polls GET /api/v1/sales/:id/state, counts down on the server's clock,
// buys with an Idempotency-Key made here and kept until an answer comes (a double click or a
// retry never makes two orders), then pays or cancels. No framework, no build step.
;(() => {
  const T = {
    en: {
      loading: 'Loading…',
      missing: 'There is no such sale.',
      scheduled: 'Not started yet',
      scheduledHand: 'Starts soon',
      open: 'On sale now',
      sold_out: 'Sold out',
      closed: 'The sale is closed',
      startsIn: 'Starts in {0}',
      left: '{0} left',
      yourId: 'Your id',
      buy: 'Buy',
      retry: 'Retry',
      sending: 'Sending…',
      pay: 'Pay',
      cancel: 'Cancel',
      needId: 'Enter your id first.',
      reserved: 'Reserved: order {0}. Pay before {1} ({2} left).',
      paid: 'Paid: order {0}. Thank you!',
      cancelled: 'Cancelled: order {0}.',
      expired: 'Expired: order {0} was not paid in time.',
      limit_exceeded: 'You have already bought your limit.',
      not_started: 'The sale has not started yet.',
      rate_limited: 'Too many requests: retry in {0} s.',
      unavailable: 'The shop could not answer; nothing was bought. Retry.',
      outcome_unknown: 'No answer in time: you may have an order. Retry (it cannot buy twice).',
      network: 'No connection. Retry (it cannot buy twice).',
      failed: 'Refused: {0}',
    },
    zh: {
      loading: '加载中…',
      missing: '没有这个秒杀。',
      scheduled: '尚未开始',
      scheduledHand: '即将开始',
      open: '正在秒杀',
      sold_out: '已售罄',
      closed: '秒杀已结束',
      startsIn: '距开始 {0}',
      left: '剩余 {0} 件',
      yourId: '你的用户名',
      buy: '立即抢购',
      retry: '重试',
      sending: '提交中…',
      pay: '支付',
      cancel: '取消订单',
      needId: '请先输入你的用户名。',
      reserved: '已锁定：订单 {0}。请在 {1} 前支付（剩余 {2}）。',
      paid: '支付成功：订单 {0}。',
      cancelled: '已取消：订单 {0}。',
      expired: '已过期：订单 {0} 未按时支付。',
      limit_exceeded: '你已达到限购数量。',
      not_started: '秒杀尚未开始。',
      rate_limited: '请求过于频繁：{0} 秒后重试。',
      unavailable: '服务暂时无法应答，未下单。请重试。',
      outcome_unknown: '未及时应答，可能已下单。请重试（不会重复下单）。',
      network: '网络错误。请重试（不会重复下单）。',
      failed: '被拒绝：{0}',
    },
  }
  const $ = (id) => document.getElementById(id)
  // Text is rewritten only when it changed: render runs 4 times a second.
  const put = (el, text) => {
    if (el.textContent !== text) el.textContent = text
  }
  const saleId = document.body.dataset.sale || ''
  const store = {
    get: (k) => {
      try {
        return localStorage.getItem(k)
      } catch {
        return null
      }
    },
    set: (k, v) => {
      try {
        localStorage.setItem(k, v)
      } catch {}
    },
  }
  const prefersZh = /^zh/i.test(navigator.languages?.[0] || navigator.language || '')
  let lang = store.get('seckill.lang') || (prefersZh ? 'zh' : 'en')
  const t = (key, ...args) => (T[lang][key] || key).replace(/\{(\d)\}/g, (_, i) => args[i])

  let offset = 0 // server clock − browser clock, ms
  let bestRtt = Infinity
  let sale = null // the last state answer
  let busy = false // a purchase or payment request is out: every button waits
  let retryAt = 0 // browser ms before which a rate-limited buyer waits
  let order = null // the reserved order being paid
  let said = null // the last answer: [class, key, ...args]
  const PENDING = `seckill.pending.${saleId}`
  // The purchase intent not yet answered: {key, user}. Kept for the tab's life, so a reload
  // retries with the same key too.
  let pending = null
  try {
    pending = JSON.parse(sessionStorage.getItem(PENDING) || 'null')
  } catch {}
  const keep = (p) => {
    pending = p
    try {
      if (p) sessionStorage.setItem(PENDING, JSON.stringify(p))
      else sessionStorage.removeItem(PENDING)
    } catch {}
  }
  const now = () => Date.now() + offset

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID()
    // randomUUID needs a secure context; a plain-HTTP page makes a v4 UUID itself.
    const b = crypto.getRandomValues(new Uint8Array(16))
    b[6] = (b[6] & 15) | 64
    b[8] = (b[8] & 63) | 128
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }

  function span(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000))
    const two = (n) => String(n).padStart(2, '0')
    const d = Math.floor(s / 86400)
    const hms = `${two(Math.floor(s / 3600) % 24)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`
    return d > 0 ? `${d}d ${hms}` : hms
  }

  function phase() {
    if (!sale) return 'loading'
    const start = sale.startsAt ? Date.parse(sale.startsAt) : null
    // Open on the server's clock at startsAt, without waiting for the next poll.
    if (sale.state === 'scheduled' && start !== null && now() >= start) return 'open'
    return sale.state
  }

  function render() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
    for (const el of document.querySelectorAll('[data-l]')) put(el, t(el.dataset.l))
    put($('lang'), lang === 'zh' ? 'English' : '中文')
    $('lang').lang = lang === 'zh' ? 'en' : 'zh'
    if (!saleId) {
      put($('status'), t('missing'))
      return
    }
    const p = phase()
    const start = sale?.startsAt ? Date.parse(sale.startsAt) : null
    put($('status'), p === 'scheduled' && start === null ? t('scheduledHand') : t(p))
    put(
      $('clock'),
      p === 'scheduled' && start !== null
        ? t('startsIn', span(start - now()))
        : p === 'open' && sale
          ? t('left', sale.remaining)
          : '',
    )
    $('buy-form').hidden = !sale
    const wait = retryAt - Date.now()
    $('buy').disabled = busy || p !== 'open' || wait > 0
    put($('buy'), busy ? t('sending') : pending ? t('retry') : t('buy'))
    $('order').hidden = !order || order.status !== 'reserved'
    $('pay').disabled = $('cancel').disabled = busy
    const a = $('answer')
    if (!said) put(a, '')
    else {
      a.className = `answer ${said[0]}`
      const args = said.slice(2)
      if (said[1] === 'reserved' && order) {
        const exp = Date.parse(order.expiresAt)
        if (exp <= now()) {
          order.status = 'expired'
          said = ['no', 'expired', order.orderId]
          return render()
        }
        args[1] = new Date(exp - offset).toLocaleTimeString(lang === 'zh' ? 'zh-CN' : 'en')
        args[2] = span(exp - now())
      }
      if (said[1] === 'rate_limited') args[0] = Math.max(0, Math.ceil(wait / 1000))
      const text = t(said[1], ...args)
      // Only a new message is announced (aria-live), not every tick of a countdown.
      put(a, text)
    }
  }

  function say(cls, key, ...args) {
    said = [cls, key, ...args]
    render()
  }

  // Poll the state; every answer is also a clock sample: the server's time is taken as that at
  // the midpoint of the request's round trip, and the sample with the shortest trip wins (the
  // least uncertain). `no-store`: this browser polls at the cache's own lifetime, and a copy from
  // its cache would be an old clock; a shared cache in front still merges a storm's polls, and
  // its Age header is added back.
  let timer = 0
  async function poll() {
    clearTimeout(timer)
    try {
      const t0 = Date.now()
      const r = await fetch(`/api/v1/sales/${encodeURIComponent(saleId)}/state`, {
        cache: 'no-store',
      })
      const t1 = Date.now()
      if (r.ok) {
        const s = await r.json()
        const age = Number(r.headers.get('age') || 0) * 1000
        if (t1 - t0 <= bestRtt && age === 0) {
          bestRtt = t1 - t0
          offset = s.serverTime - (t0 + t1) / 2
        }
        sale = s
      }
    } catch {}
    render()
    if (document.visibilityState !== 'hidden') timer = setTimeout(poll, 1000)
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') poll()
    else clearTimeout(timer)
  })

  async function send(method, path, headers, body) {
    busy = true
    render()
    try {
      const r = await fetch(path, {
        method,
        headers: { 'content-type': 'application/json', ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      let json = null
      try {
        json = await r.json()
      } catch {}
      return {
        status: r.status,
        json: json || {},
        retryAfter: Number(r.headers.get('retry-after')),
      }
    } catch {
      return { status: 0, json: {}, retryAfter: 0 }
    } finally {
      busy = false
    }
  }

  async function buy(ev) {
    ev.preventDefault()
    if (busy) return // one request at a time: a double click sends nothing more
    const user = $('user').value.trim()
    if (!user) return say('no', 'needId')
    store.set('seckill.user', user)
    // A new intent gets a new key; a retry of the unanswered one (same buyer) reuses it.
    if (!pending || pending.user !== user) keep({ key: uuid(), user })
    const r = await send(
      'POST',
      `/api/v1/sales/${encodeURIComponent(saleId)}/orders`,
      { 'idempotency-key': pending.key },
      { userId: user },
    )
    answer(r)
  }

  function answer(r) {
    const code = r.json.error
    if (r.status === 0) return say('no', 'network')
    if (r.status === 429) {
      retryAt = Date.now() + (r.retryAfter || 1) * 1000
      setTimeout(render, retryAt - Date.now() + 50)
      return say('no', 'rate_limited', r.retryAfter || 1)
    }
    if (r.status === 503) return say('no', code === 'outcome_unknown' ? code : 'unavailable')
    keep(null) // answered: the next click is a new purchase
    if (r.status === 200 || r.status === 201) {
      order = r.json
      // Our own unit is gone at once; the next poll brings everyone else's.
      if (r.status === 201 && sale && sale.remaining > 0) {
        sale = { ...sale, remaining: Math.max(0, sale.remaining - (order.quantity || 1)) }
      }
      return say('ok', 'reserved', order.orderId)
    }
    if (code === 'sold_out' || code === 'closed') {
      sale = { ...sale, state: code, remaining: 0 }
      return say('no', code)
    }
    if (code === 'limit_exceeded' || code === 'not_started') return say('no', code)
    say('no', 'failed', r.json.detail || code || r.status)
  }

  async function settle(action) {
    if (busy || !order) return
    const r = await send(
      'POST',
      `/api/v1/orders/${encodeURIComponent(order.orderId)}/${action}`,
      {},
    )
    if (r.status === 200) {
      order = r.json
      return say(order.status === 'paid' ? 'ok' : 'no', order.status, order.orderId)
    }
    if (r.json.error === 'expired' || r.json.error === 'cancelled' || r.json.error === 'paid') {
      order = { ...order, status: r.json.error }
      return say('no', r.json.error, order.orderId)
    }
    say('no', r.status === 0 ? 'network' : 'failed', r.json.detail || r.json.error || r.status)
  }

  $('lang').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh'
    store.set('seckill.lang', lang)
    render()
  })
  $('user').value = pending?.user || store.get('seckill.user') || ''
  $('buy-form').addEventListener('submit', buy)
  $('pay').addEventListener('click', () => settle('pay'))
  $('cancel').addEventListener('click', () => settle('cancel'))
  render()
  if (saleId) {
    poll()
    // The countdowns move between polls; render only rewrites text that changed.
    setInterval(render, 250)
  }
})()
