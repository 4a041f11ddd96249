// The live dashboard: one snapshot of the node a second, pushed as server-sent events. Read with
// fetch() rather than EventSource because EventSource cannot send the Authorization header, and
// the admin token is never put in a URL. The token lives in sessionStorage (this tab only).
'use strict'
;(() => {
  const TOKEN_KEY = 'seckill.adminToken'
  const LANG_KEY = 'seckill.lang'
  const RETRY_MS = 2000
  const LABELS = {
    en: {
      title: 'Live dashboard',
      toAdmin: "Operator's console",
      tokenLegend: 'Admin token (kept in this tab only)',
      token: 'Token',
      connect: 'Connect',
      forget: 'Forget token',
      node: 'Node',
      updated: 'Updated',
      rps: 'Requests / s',
      written: 'Orders written',
      writtenRate: 'Orders written / s',
      lag: 'Writer lag (s)',
      backlog: 'Writer backlog',
      drift: 'Drift',
      answers: 'Answers per second',
      fleet: 'Every node of the fleet',
      outcome: 'Answer',
      perSecond: 'per second',
      sales: 'Sales',
      id: 'Id',
      state: 'State',
      stock: 'Stock',
      sold: 'Sold',
      remaining: 'Remaining',
      workers: 'Workers',
      slot: 'Slot',
      quota: 'Quota',
      inflight: 'In flight',
      parked: 'Parked',
      noToken: 'Enter the admin token to connect.',
      refused: 'Refused: the token is wrong (401 unauthorized).',
      live: 'Live: one update a second.',
      lost: 'Connection lost; reconnecting…',
      forgotten: 'Token forgotten.',
      scheduled: 'scheduled',
      open: 'open',
      sold_out: 'sold out',
      closed: 'closed',
    },
    zh: {
      title: '实时看板',
      toAdmin: '运营控制台',
      tokenLegend: '管理令牌（仅保存在本标签页）',
      token: '令牌',
      connect: '连接',
      forget: '清除令牌',
      node: '节点',
      updated: '更新于',
      rps: '每秒请求',
      written: '已写订单',
      writtenRate: '每秒写入订单',
      lag: '写入延迟（秒）',
      backlog: '写入积压',
      drift: '对账差异',
      answers: '每秒应答',
      fleet: '集群所有节点',
      outcome: '应答',
      perSecond: '每秒',
      sales: '活动',
      id: '编号',
      state: '状态',
      stock: '库存',
      sold: '已售',
      remaining: '剩余',
      workers: '工作进程',
      slot: '槽位',
      quota: '配额',
      inflight: '处理中',
      parked: '排队',
      noToken: '请输入管理令牌以连接。',
      refused: '被拒绝：令牌错误（401 unauthorized）。',
      live: '实时：每秒更新。',
      lost: '连接断开，正在重连…',
      forgotten: '令牌已清除。',
      scheduled: '未开始',
      open: '进行中',
      sold_out: '已售罄',
      closed: '已结束',
    },
  }
  let lang = localStorage.getItem(LANG_KEY) === 'zh' ? 'zh' : 'en'
  const t = (k) => LABELS[lang][k] ?? k
  const $ = (id) => document.getElementById(id)
  let last = null
  let stream = null
  let retry = null

  function say(text, kind) {
    const msg = $('msg')
    msg.textContent = text
    msg.className = `msg ${kind ?? ''}`
    msg.setAttribute('role', kind === 'error' ? 'alert' : 'status')
  }

  function applyLabels() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n)
    $('lang').textContent = lang === 'zh' ? 'English' : '中文'
    if (last) render(last)
  }

  function rows(id, items, cols) {
    const body = $(id)
    body.replaceChildren()
    for (const item of items) {
      const row = body.insertRow()
      cols.forEach((col, i) => {
        const td = row.insertCell()
        td.textContent = String(col(item))
        if (i > 0 && typeof col(item) === 'number') td.className = 'num'
      })
    }
  }

  function render(s) {
    last = s
    $('node').textContent = s.node
    $('at').textContent = new Date(s.at).toLocaleTimeString()
    $('at').dateTime = s.at
    $('rps').textContent = s.requestsPerSecond
    $('written').textContent = s.ordersWritten
    $('writtenRate').textContent = s.ordersWrittenPerSecond
    $('lag').textContent = s.writerLagSeconds.toFixed(1)
    $('backlog').textContent = s.writerBacklog
    $('drift').textContent = Object.values(s.drift).reduce((a, b) => a + b, 0)
    // This node first, then the others it read from Redis (cluster/dashboard-fleet.ts).
    rows(
      'fleet',
      [s, ...(s.fleet ?? [])],
      [
        (n) => n.node,
        (n) => new Date(n.at).toLocaleTimeString(),
        (n) => n.requestsPerSecond,
        (n) => n.ordersWrittenPerSecond,
        (n) => n.writerBacklog,
        (n) => Math.round(n.writerLagSeconds * 10) / 10,
        (n) => n.workers.length,
      ],
    )
    rows('answers', Object.entries(s.answersPerSecond), [(e) => e[0], (e) => e[1]])
    rows('sales', s.sales, [
      (x) => x.id,
      (x) => t(x.state),
      (x) => x.stock,
      (x) => x.sold,
      (x) => x.remaining,
    ])
    rows('workers', s.workers, [
      (w) => w.slot,
      (w) => w.pid,
      (w) => w.quota,
      (w) => w.inflight,
      (w) => w.parked,
      (w) => w.requestsPerSecond,
    ])
  }

  function later() {
    clearTimeout(retry)
    retry = setTimeout(connect, RETRY_MS)
  }

  async function connect() {
    clearTimeout(retry)
    stream?.abort()
    const token = sessionStorage.getItem(TOKEN_KEY)
    if (!token) return say(t('noToken'))
    const ctl = new AbortController()
    stream = ctl
    let res
    try {
      res = await fetch('/api/v1/dashboard/events', {
        headers: { Authorization: `Bearer ${token}` },
        signal: ctl.signal,
      })
    } catch {
      if (!ctl.signal.aborted) {
        say(t('lost'), 'error')
        later()
      }
      return
    }
    if (res.status === 401) return say(t('refused'), 'error')
    if (!res.ok || !res.body) {
      say(`${res.status}`, 'error')
      return later()
    }
    say(t('live'), 'ok')
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    let buf = ''
    try {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        buf += value
        let end = buf.indexOf('\n\n')
        while (end >= 0) {
          const frame = buf.slice(0, end)
          buf = buf.slice(end + 2)
          for (const line of frame.split('\n'))
            if (line.startsWith('data: ')) render(JSON.parse(line.slice(6)))
          end = buf.indexOf('\n\n')
        }
      }
    } catch {
      // aborted or dropped: handled below
    }
    if (!ctl.signal.aborted) {
      say(t('lost'), 'error')
      later()
    }
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault()
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim())
    $('token').value = ''
    connect()
  })
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY)
    stream?.abort()
    clearTimeout(retry)
    say(t('forgotten'))
  })
  $('lang').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh'
    localStorage.setItem(LANG_KEY, lang)
    applyLabels()
  })
  applyLabels()
  connect()
})()
