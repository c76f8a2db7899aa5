/* pyvitals dashboard: polls api/snapshot and health once a second, keeps about five minutes of
 * samples per service in the browser and draws them with Dygraph (Debian's libjs-dygraphs, served
 * by the agent itself). Names and routes come from whoever sends requests to the watched service,
 * so they only ever enter the page as text (textContent, attributes), never as HTML. */
'use strict';
(function () {
  const POLL_MS = 1000;
  const TIMEOUT_MS = 5000;
  const WINDOW_MS = 5 * 60 * 1000;
  const GAP_MS = 5 * POLL_MS;
  const MAX_LINES = 8;
  const TOKEN_KEY = 'pyvitals-token';
  // Tableau 10: a route keeps its colour in every chart of its service
  const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

  const $ = (id) => document.getElementById(id);
  const services = new Map(); // service name -> state (samples, counters of the last snapshot, DOM)
  let token = null;
  let polling = false;

  class AuthError extends Error {}
  class HttpError extends Error {} // the agent answered, but not with data (still attaching, say)

  /* ---- access token ---- */

  function loadToken() {
    const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    try {
      if (m) sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
      token = sessionStorage.getItem(TOKEN_KEY);
    } catch (e) {
      // storage can be disabled; the token then lives as long as the page
      token = m ? decodeURIComponent(m[1]) : null;
    }
    // out of the address bar, so it ends up in no history entry, bookmark or screenshot
    if (m) history.replaceState(null, '', location.pathname + location.search);
  }

  function askForToken() {
    $('auth').hidden = false;
    $('auth-token').focus();
  }

  $('auth').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('auth-token').value.trim();
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch (e) { /* kept in memory only */ }
    $('auth').hidden = true;
    startPolling();
  });

  /* ---- polling ---- */

  async function getJSON(path) {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
    try {
      const res = await fetch(path, {
        headers: token ? { Authorization: 'Bearer ' + token } : {},
        cache: 'no-store',
        signal: ctl.signal,
      });
      if (res.status === 401) throw new AuthError('token needed');
      // health answers 503 when a check is critical, and its body is still the verdict
      const json = (res.headers.get('Content-Type') || '').startsWith('application/json');
      if (!res.ok && !(path === 'health' && res.status === 503 && json)) {
        throw new HttpError(path + ': HTTP ' + res.status + ': ' + (await res.text()).trim());
      }
      return await res.json();
    } finally {
      clearTimeout(timer);
    }
  }

  function startPolling() {
    if (!polling) {
      polling = true;
      poll();
    }
  }

  async function poll() {
    let snap, health;
    try {
      [snap, health] = await Promise.all([getJSON('api/snapshot'), getJSON('health')]);
    } catch (e) {
      document.body.classList.add('stale');
      if (e instanceof AuthError) {
        // polling on would only log a 401 a second: wait for the form
        polling = false;
        setVerdict('unauthorized', 'token needed', '', [text('li', 'Enter the agent\'s access token below.')]);
        askForToken();
        return;
      }
      if (e instanceof HttpError) {
        setVerdict('unknown', 'no data from the agent', '', [text('li', e.message)]);
      } else {
        const why = e.name === 'AbortError' ? 'no answer in ' + TIMEOUT_MS / 1000 + ' s' : String(e.message || e);
        setVerdict('unreachable', 'agent unreachable', '', [text('li', why)]);
      }
      setTimeout(poll, POLL_MS);
      return;
    }
    // scheduled before drawing: a bug in drawing shows in the console and does not stop the page
    setTimeout(poll, POLL_MS);
    document.body.classList.remove('stale');
    update(snap, health, Date.now());
  }

  /* ---- small helpers ---- */

  function text(tag, s, cls) {
    const el = document.createElement(tag);
    el.textContent = s;
    if (cls) el.className = cls;
    return el;
  }

  function fmt(x, digits) {
    return x === null || x === undefined || !isFinite(x) ? '–' : Number(x).toFixed(digits);
  }

  const num = (x) => (typeof x === 'number' && isFinite(x) ? x : null);
  const ratio = (part, whole) => (num(part) !== null && num(whole) > 0 ? part / whole : null);
  const routeKey = (r) => r.method + ' ' + r.route;
  const pad = (n) => String(n).padStart(2, '0');
  // HH:MM:SS ticks; while the window is a few seconds long Dygraph also ticks half seconds: unlabelled
  const clock = (d) => (d.getMilliseconds() ? '' : pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()));

  /* ---- verdict banner ---- */

  function setVerdict(status, label, time, items) {
    const v = $('verdict');
    v.dataset.status = status;
    $('verdict-status').textContent = label;
    $('verdict-time').textContent = time;
    $('verdict-reasons').replaceChildren(...items);
  }

  // critical first: the reason to act on heads the list
  function failing(checks) {
    return (checks || []).filter((c) => c.status && c.status !== 'ok')
      .sort((a, b) => (b.status === 'critical') - (a.status === 'critical'));
  }

  // the agent's reasons name neither the service nor the route: the line does
  function reasonItem(prefix, c) {
    const where = [prefix, c.route].filter(Boolean).join(' ');
    return text('li', (where ? where + ': ' : '') + (c.reason || c.check), 'status-' + c.status);
  }

  function showHealth(health) {
    const items = failing(health.checks).map((c) => reasonItem('', c));
    for (const s of health.services || []) {
      const bad = failing(s.checks);
      if (!bad.length) {
        items.push(text('li', s.name + ': ' + (s.checks || []).length + ' checks ok', 'status-ok'));
        continue;
      }
      for (const c of bad) items.push(reasonItem(s.name, c));
    }
    const status = health.status || 'unknown';
    const window = health.window_s ? 'over the last ' + health.window_s + ' s, ' : '';
    setVerdict(status, status, window + (health.time || ''), items);
  }

  /* ---- samples ---- */

  /* One point per chart series from one snapshot of a service. Counters that only exist as totals
   * (cache hits, GIL wait, GC collections) become rates through the previous snapshot's values. */
  function sample(st, s, uptime, t) {
    const hs = s.http_server || {};
    const iv = (o) => o.interval || {};
    const ivLat = (o, q) => num((iv(o).latency_ms || {})[q]);
    const routes = new Map();
    for (const r of hs.routes || []) {
      routes.set(routeKey(r), {
        rate: num(r.requests_per_s),
        err: ratio(iv(r)['5xx'], iv(r).requests),
        p50: ivLat(r, 'p50'),
        p99: ivLat(r, 'p99'),
        db: num(r.db_calls_per_request),
      });
    }
    const rt = s.runtime || {};
    const gil = rt.gil || null;
    const gc = rt.gc || null;
    const now = {
      uptime,
      cache: new Map(),
      gilMs: gil ? num(gil.wait_ms) : null,
      gcN: gc && gc.collections ? gc.collections.reduce((a, b) => a + b, 0) : null,
    };
    for (const p of s.db || []) {
      if (p.cache) now.cache.set(p.system + ' ' + p.peer, p.cache);
    }
    const last = st.last;
    // seconds between the two snapshots; null after an agent restart or on the first one
    const dt = last && uptime !== null && last.uptime !== null && uptime > last.uptime ? uptime - last.uptime : null;
    const perSec = (a, b) => (dt && a !== null && b !== null && a >= b ? (a - b) / dt : null);
    const cache = new Map();
    for (const [peer, c] of now.cache) {
      const before = last && last.cache.get(peer);
      if (!dt || !before) continue;
      const hits = c.hits - before.hits;
      const reads = hits + c.misses - before.misses;
      cache.set(peer, hits >= 0 && reads > 0 ? (100 * hits) / reads : null);
    }
    st.last = now;
    const gilWait = perSec(now.gilMs, last && last.gilMs);
    return {
      t: new Date(t),
      all: { rate: num(hs.requests_per_s), err: ratio(iv(hs)['5xx'], iv(hs).requests) },
      routes,
      cache,
      gil: gilWait === null ? null : gilWait / 10, // ms waited per second -> % of a second
      gcP99: gc && gc.pause_ms ? num(gc.pause_ms.p99) : null,
      gcRate: perSec(now.gcN, last && last.gcN),
      hasGil: !!gil,
      hasGc: !!gc,
    };
  }

  /* The routes drawn: the busiest over the window, so the set of lines stays put from one second
   * to the next. */
  function topRoutes(st, n, field) {
    const total = new Map();
    for (const smp of st.samples) {
      for (const [k, r] of smp.routes) {
        if (field && r[field] === null) continue;
        total.set(k, (total.get(k) || 0) + (r.rate || 0));
      }
    }
    return [...total.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, n).map((e) => e[0]);
  }

  const routeField = (field) => (smp, k) => (smp.routes.get(k) || {})[field] ?? null;
  const pct = (x) => (x === null ? null : 100 * x);

  const CHARTS = [
    {
      id: 'rate', title: 'Requests / s',
      series: (st) => ['all routes', ...topRoutes(st, MAX_LINES - 1)],
      value: (smp, k) => (k === 'all routes' ? smp.all.rate : routeField('rate')(smp, k)),
    },
    {
      id: 'err', title: '5xx, % of requests (each second)',
      series: (st) => ['all routes', ...topRoutes(st, MAX_LINES - 1)],
      value: (smp, k) => pct(k === 'all routes' ? smp.all.err : routeField('err')(smp, k)),
    },
    { id: 'p50', title: 'p50 latency, ms (each second)', series: (st) => topRoutes(st, MAX_LINES), value: routeField('p50') },
    { id: 'p99', title: 'p99 latency, ms (each second)', series: (st) => topRoutes(st, MAX_LINES), value: routeField('p99') },
    {
      // null when calls cannot be tied to requests: such routes get no line
      id: 'db', title: 'Database calls per request (since start)',
      series: (st) => topRoutes(st, MAX_LINES, 'db'), value: routeField('db'),
    },
    {
      id: 'cache', title: 'Cache hit ratio, % (each second)',
      series: (st) => [...new Set(st.samples.flatMap((smp) => [...smp.cache.keys()]))].sort(),
      value: (smp, k) => smp.cache.get(k) ?? null,
    },
    {
      id: 'gil', title: 'GIL wait, % of wall time (summed over threads)',
      series: (st) => (st.samples.some((smp) => smp.hasGil) ? ['GIL wait'] : []),
      value: (smp) => smp.gil,
    },
    {
      id: 'gc', title: 'GC: pause p99, ms (left) and collections / s (right)',
      series: (st) => (st.samples.some((smp) => smp.hasGc) ? ['pause p99 ms', 'collections/s'] : []),
      value: (smp, k) => (k === 'collections/s' ? smp.gcRate : smp.gcP99),
      options: { series: { 'collections/s': { axis: 'y2' } }, axes: { y2: { independentTicks: true } } },
    },
  ];

  /* ---- per service DOM ---- */

  function serviceState(name) {
    let st = services.get(name);
    if (st) return st;
    const el = document.createElement('section');
    el.className = 'service';
    el.dataset.service = name;
    const head = document.createElement('h2');
    const badge = text('span', 'unknown', 'badge');
    const meta = text('span', '', 'meta');
    head.append(text('span', name, 'name'), badge, meta);
    const grid = text('div', '', 'charts');
    const table = document.createElement('table');
    table.className = 'routes';
    table.createCaption().textContent = 'Routes: totals since the agent started; req/s over the last second';
    const hrow = table.createTHead().insertRow();
    for (const h of ['Method', 'Route', 'req/s', 'requests', '5xx %', 'p50 ms', 'p99 ms', 'DB calls/req']) {
      hrow.append(text('th', h));
    }
    st = {
      name, el, badge, meta, grid, tbody: table.createTBody(), rows: new Map(), charts: new Map(),
      colors: new Map([['all routes', '#333333']]), samples: [], last: null, seen: 0,
    };
    el.append(head, grid, table);
    services.set(name, st);
    // sections in name order, whatever order the services appear in
    const after = [...services.keys()].sort().find((n) => n > name);
    $('services').insertBefore(el, after ? services.get(after).el : null);
    return st;
  }

  function drawChart(st, spec) {
    const keys = spec.series(st);
    let c = st.charts.get(spec.id);
    if (!keys.length) {
      if (c) c.box.hidden = true;
      return;
    }
    if (!c) {
      c = { box: text('div', '', 'chart-box'), plot: text('div', '', 'chart'), legend: text('div', '', 'legend'), g: null, labels: '' };
      c.box.dataset.chart = spec.id;
      c.box.append(text('h3', spec.title), c.plot, c.legend);
      st.grid.append(c.box);
      st.charts.set(spec.id, c);
    }
    c.box.hidden = false;
    const labels = ['time', ...keys];
    for (const k of keys) if (!st.colors.has(k)) st.colors.set(k, PALETTE[(st.colors.size - 1) % PALETTE.length]);
    const rows = [];
    st.samples.forEach((smp, i) => {
      // no line across a stretch without data (agent unreachable, service gone for a while)
      if (i && smp.t - st.samples[i - 1].t > GAP_MS) rows.push([new Date(smp.t - POLL_MS), ...keys.map(() => null)]);
      rows.push([smp.t, ...keys.map((k) => spec.value(smp, k))]);
    });
    // Dygraph wants its labels fixed for a graph's life: a new set of lines is a new graph
    if (c.g && c.labels !== labels.join('\n')) {
      c.g.destroy();
      c.g = null;
    }
    if (c.g) {
      c.g.updateOptions({ file: rows });
      return;
    }
    c.labels = labels.join('\n');
    const options = spec.options || {};
    c.g = new Dygraph(c.plot, rows, Object.assign({
      labels,
      labelsDiv: c.legend,
      legend: 'always',
      includeZero: true,
      colors: keys.map((k) => st.colors.get(k)),
      strokeWidth: 1.5,
      axisLabelFontSize: 11,
      yAxisLabelWidth: 42,
      digitsAfterDecimal: 2,
    }, options, { axes: Object.assign({ x: { axisLabelFormatter: clock } }, options.axes) }));
  }

  function checksByRoute(hs) {
    const order = { ok: 0, degraded: 1, critical: 2 };
    const worst = new Map();
    for (const c of (hs && hs.checks) || []) {
      if (c.route && (order[c.status] || 0) >= (order[worst.get(c.route)] || 0)) worst.set(c.route, c.status);
    }
    return worst;
  }

  function drawTable(st, s, hs) {
    const routes = ((s.http_server || {}).routes || []).slice();
    routes.sort((a, b) => (b.requests_per_s || 0) - (a.requests_per_s || 0) || b.requests - a.requests ||
      (routeKey(a) < routeKey(b) ? -1 : 1));
    const status = checksByRoute(hs);
    const keep = new Set();
    for (const r of routes) {
      const key = routeKey(r);
      keep.add(key);
      let tr = st.rows.get(key);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.route = key;
        for (let i = 0; i < 8; i++) tr.insertCell();
        st.rows.set(key, tr);
      }
      const lat = r.latency_ms || {};
      const err = ratio((r.status || {})['5xx'], r.requests);
      const cells = [r.method, r.route, fmt(r.requests_per_s, 1), String(r.requests), fmt(pct(err), 1),
        fmt(lat.p50, 1), fmt(lat.p99, 1), fmt(r.db_calls_per_request, 1)];
      cells.forEach((v, i) => { if (tr.cells[i].textContent !== v) tr.cells[i].textContent = v; });
      tr.dataset.status = status.get(key) || 'ok';
      st.tbody.append(tr); // appending an attached row moves it: rows follow the sort
    }
    for (const [key, tr] of st.rows) {
      if (!keep.has(key)) {
        tr.remove();
        st.rows.delete(key);
      }
    }
  }

  /* ---- one poll's worth ---- */

  function update(snap, health, t) {
    showHealth(health);
    const hsByName = new Map((health.services || []).map((h) => [h.name, h]));
    const uptime = num(snap.uptime_s);
    for (const s of snap.services || []) {
      const st = serviceState(s.name);
      st.seen = t;
      st.el.classList.remove('gone');
      // the same snapshot read twice (polls drift against the agent's second): nothing new
      if (st.last && uptime !== null && uptime === st.last.uptime) continue;
      st.samples.push(sample(st, s, uptime, t));
      while (st.samples.length && st.samples[0].t < t - WINDOW_MS) st.samples.shift();
      const hs = hsByName.get(s.name);
      st.badge.textContent = hs ? hs.status : 'no verdict';
      st.badge.dataset.status = hs ? hs.status : 'unknown';
      // a --comm target is a service before any process of that name runs
      st.meta.textContent = s.pids && s.pids.length ? 'pids ' + s.pids.join(' ') : 'no process yet';
      for (const spec of CHARTS) drawChart(st, spec);
      drawTable(st, s, hs);
    }
    // a service gone from the snapshot stays greyed out while its samples are on screen
    for (const [name, st] of services) {
      if (st.seen === t) continue;
      if (t - st.seen > WINDOW_MS) {
        for (const c of st.charts.values()) if (c.g) c.g.destroy();
        st.el.remove();
        services.delete(name);
      } else if (!st.el.classList.contains('gone')) {
        st.el.classList.add('gone');
        st.badge.textContent = 'gone';
        st.badge.dataset.status = 'unknown';
        st.meta.textContent = 'not in the snapshot since ' + clock(new Date(st.seen - st.seen % 1000));
      }
    }
    $('no-services').hidden = (snap.services || []).length > 0;
  }

  window.addEventListener('resize', () => {
    for (const st of services.values()) for (const c of st.charts.values()) if (c.g && !c.box.hidden) c.g.resize();
  });

  loadToken();
  startPolling();
})();
