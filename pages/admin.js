// The operator's console. The admin token lives in sessionStorage (this tab only, gone when it
// closes) and travels only in the Authorization header of fetch(): never in a URL.
'use strict'
;(() => {
  const TOKEN_KEY = 'seckill.adminToken'
  const LANG_KEY = 'seckill.lang'
  const LABELS = {
    en: {
      title: "Operator's console",
      toDashboard: 'Dashboard',
      tokenLegend: 'Admin token (kept in this tab only)',
      token: 'Token',
      useToken: 'Use token',
      forget: 'Forget token',
      sales: 'Sales',
      refresh: 'Refresh',
      id: 'Id',
      name: 'Name',
      state: 'State',
      stock: 'Stock',
      sold: 'Sold',
      remaining: 'Remaining',
      actions: 'Actions',
      create: 'Create a sale',
      perUserLimit: 'Per-user limit',
      startsAt: 'Starts at (empty: start by hand)',
      createBtn: 'Create',
      start: 'Start',
      close: 'Close',
      add: 'Add',
      remove: 'Remove',
      units: 'Units',
      noToken: 'Enter the admin token to load the sales.',
      noSales: 'No sales yet.',
      refused: 'Refused: the token is wrong (401 unauthorized).',
      loaded: 'Sales loaded',
      done: 'Done',
      confirmClose: 'Close sale {id}? It can never sell again.',
      scheduled: 'scheduled',
      open: 'open',
      sold_out: 'sold out',
      closed: 'closed',
      forgotten: 'Token forgotten.',
    },
    zh: {
      title: '运营控制台',
      toDashboard: '实时看板',
      tokenLegend: '管理令牌（仅保存在本标签页）',
      token: '令牌',
      useToken: '使用令牌',
      forget: '清除令牌',
      sales: '活动',
      refresh: '刷新',
      id: '编号',
      name: '名称',
      state: '状态',
      stock: '库存',
      sold: '已售',
      remaining: '剩余',
      actions: '操作',
      create: '创建活动',
      perUserLimit: '每人限购',
      startsAt: '开始时间（留空：手动开始）',
      createBtn: '创建',
      start: '开始',
      close: '结束',
      add: '补货',
      remove: '减库存',
      units: '数量',
      noToken: '请输入管理令牌以加载活动。',
      noSales: '暂无活动。',
      refused: '被拒绝：令牌错误（401 unauthorized）。',
      loaded: '活动已加载',
      done: '完成',
      confirmClose: '结束活动 {id}？结束后不能再售。',
      scheduled: '未开始',
      open: '进行中',
      sold_out: '已售罄',
      closed: '已结束',
      forgotten: '令牌已清除。',
    },
  }
  let lang = localStorage.getItem(LANG_KEY) === 'zh' ? 'zh' : 'en'
  const t = (k) => LABELS[lang][k] ?? k
  const $ = (id) => document.getElementById(id)
  const msg = $('msg')
  let sales = []

  function say(text, kind) {
    msg.textContent = text
    msg.className = `msg ${kind ?? ''}`
    msg.setAttribute('role', kind === 'error' ? 'alert' : 'status')
  }

  function applyLabels() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en'
    for (const el of document.querySelectorAll('[data-i18n]')) {
      el.textContent = t(el.dataset.i18n)
      if (el.dataset.sale) el.setAttribute('aria-label', `${el.textContent} ${el.dataset.sale}`)
    }
    for (const el of document.querySelectorAll('input[name^="units-"]')) {
      el.setAttribute('aria-label', `${t('units')} ${el.name.slice(6)}`)
    }
    $('lang').textContent = lang === 'zh' ? 'English' : '中文'
    render()
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY)

  /** Call an admin route; resolves to the body, or throws an Error whose message is "status code: detail". */
  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${token() ?? ''}` }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const data = await res.json().catch(() => ({}))
    if (!res.ok) {
      const err = new Error(
        res.status === 401
          ? t('refused')
          : `${res.status} ${data.error ?? ''}: ${data.detail ?? res.statusText}`,
      )
      err.status = res.status
      throw err
    }
    return data
  }

  async function load() {
    if (!token()) {
      sales = []
      render()
      return say(t('noToken'))
    }
    try {
      sales = (await api('GET', '/api/v1/sales')).sales
      render()
      if (msg.textContent === '' || msg.textContent === t('noToken')) say(t('loaded'), 'ok')
    } catch (err) {
      sales = []
      render()
      say(err.message, 'error')
    }
  }

  function button(key, id, onClick, secondary) {
    const b = document.createElement('button')
    b.type = 'button'
    b.dataset.i18n = key
    b.dataset.sale = id
    b.textContent = t(key)
    b.setAttribute('aria-label', `${t(key)} ${id}`)
    if (secondary) b.className = 'secondary'
    b.addEventListener('click', onClick)
    return b
  }

  // Rows are kept and their cells updated in place: the 2 s refresh must not take the keyboard
  // focus away from a button, or a number the operator is typing.
  function render() {
    const body = $('sales')
    for (const r of [...body.rows]) {
      if (!r.dataset.sale || !sales.some((s) => s.id === r.dataset.sale)) r.remove()
    }
    if (sales.length === 0) {
      const td = body.insertRow().insertCell()
      td.colSpan = 7
      td.textContent = token() ? t('noSales') : t('noToken')
      return
    }
    sales.forEach((s, i) => {
      const row = [...body.rows].find((r) => r.dataset.sale === s.id) ?? newRow(body, s.id)
      const values = [s.id, s.name, t(s.state), s.stock, s.sold, s.remaining]
      values.forEach((v, i) => {
        if (row.cells[i].textContent !== String(v)) row.cells[i].textContent = String(v)
      })
      // Moving a row (even to where it is) would drop the focus inside it: move only when out of place.
      if (body.rows[i] !== row) body.insertBefore(row, body.rows[i] ?? null)
    })
  }

  function newRow(body, id) {
    const row = body.insertRow()
    row.dataset.sale = id
    for (let i = 0; i < 6; i++) row.insertCell().className = i >= 3 ? 'num' : ''
    const path = `/api/v1/sales/${encodeURIComponent(id)}`
    const box = document.createElement('div')
    box.className = 'row-actions'
    const units = document.createElement('input')
    units.type = 'number'
    units.min = '1'
    units.value = '1'
    units.name = `units-${id}`
    units.setAttribute('aria-label', `${t('units')} ${id}`)
    box.append(
      button('start', id, () => act('POST', `${path}/start`)),
      button(
        'close',
        id,
        () => {
          if (confirm(t('confirmClose').replace('{id}', id))) act('POST', `${path}/close`)
        },
        true,
      ),
      units,
      button('add', id, () => act('POST', `${path}/stock`, { add: Number(units.value) })),
      button(
        'remove',
        id,
        () => act('POST', `${path}/stock`, { remove: Number(units.value) }),
        true,
      ),
    )
    row.insertCell().appendChild(box)
    return row
  }

  async function act(method, path, body) {
    try {
      const sale = await api(method, path, body)
      say(
        `${t('done')}: ${sale.id} — ${t(sale.state)}, ${t('stock')} ${sale.stock}, ${t('remaining')} ${sale.remaining}`,
        'ok',
      )
    } catch (err) {
      say(err.message, 'error')
    }
    await load()
  }

  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault()
    sessionStorage.setItem(TOKEN_KEY, $('token').value.trim())
    $('token').value = ''
    say('')
    load()
  })
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY)
    sales = []
    render()
    say(t('forgotten'))
  })
  $('refresh').addEventListener('click', () => load())
  $('lang').addEventListener('click', () => {
    lang = lang === 'zh' ? 'en' : 'zh'
    localStorage.setItem(LANG_KEY, lang)
    applyLabels()
  })
  $('create-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const f = new FormData(e.target)
    const body = { id: f.get('id'), name: f.get('name'), stock: Number(f.get('stock')) }
    if (f.get('perUserLimit')) body.perUserLimit = Number(f.get('perUserLimit'))
    if (f.get('startsAt')) body.startsAt = new Date(f.get('startsAt')).toISOString()
    act('POST', '/api/v1/sales', body).then(() => {
      if (!msg.classList.contains('error')) e.target.reset()
    })
  })

  applyLabels()
  load()
  // Counters move during a sale: re-read every 2 s while the tab is visible (one small GET,
  // answered from the worker's memory).
  setInterval(() => {
    if (token() && document.visibilityState === 'visible') load()
  }, 2000)
})()
