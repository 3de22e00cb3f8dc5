// The live dashboard: reads the query API with a dashboard token and re-reads it on every pushed lake snapshot.
// The token comes from the URL fragment (#token=..., never sent to a server nor logged) or the form, and lives in
// sessionStorage for the tab only.
(() => {
  const $ = (id) => document.getElementById(id);
  const PALETTE = ['#1f6feb', '#1a7f37', '#8250df', '#bf8700', '#0a7ea4', '#cf222e'];
  const charts = {};
  let token = null;
  let shownSnapshot = 0;
  let refreshing = null;
  let again = false;

  const fmt = {
    int: (n) => Number(n).toLocaleString('en-US'),
    money: (n) => Number(n).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    time: (iso) => (iso ? new Date(iso).toISOString().slice(0, 19).replace('T', ' ') : '-'),
    short: (id) => (id && id.length > 14 ? `${id.slice(0, 8)}...${id.slice(-4)}` : (id ?? '-')),
    lag: (s) => (s === null || s === undefined ? 'n/a' : s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`),
  };

  function readToken() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem('bv-dashboard-token', decodeURIComponent(match[1]));
      history.replaceState(null, '', location.pathname + location.search);
    }
    return sessionStorage.getItem('bv-dashboard-token');
  }

  async function api(path) {
    const response = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
    if (response.status === 401 || response.status === 403) {
      const body = await response.json().catch(() => ({}));
      throw Object.assign(new Error(body.error?.message ?? 'not allowed'), { auth: true });
    }
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  function fillTable(id, rows, cells, empty) {
    const body = $(id).querySelector('tbody');
    body.replaceChildren();
    if (rows.length === 0) {
      const tr = body.insertRow();
      tr.className = 'empty';
      const td = tr.insertCell();
      td.colSpan = $(id).querySelectorAll('th').length;
      td.textContent = empty;
      return;
    }
    for (const row of rows) {
      const tr = body.insertRow();
      for (const [text, cls, title] of cells(row)) {
        const td = tr.insertCell();
        td.textContent = text;
        if (cls) td.className = cls;
        if (title) td.title = title;
      }
    }
  }

  function plot(name, el, opts, data) {
    const width = Math.max(320, el.clientWidth || 800);
    if (charts[name] && charts[name].series.length === opts.series.length) {
      charts[name].setData(data);
      return;
    }
    charts[name]?.destroy();
    charts[name] = new uPlot({ width, height: 260, ...opts }, data, el);
  }

  // Both charts share one time range (the data's, never narrower than an hour) and UTC, as the tables do.
  let timeRange = [0, 0];
  const xScale = () => ({ time: true, range: () => timeRange });
  const utc = (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');

  const anomalyPoints = {
    stroke: '#d1242f',
    fill: '#d1242f',
    width: 0,
    points: { show: true, size: 9, fill: '#d1242f' },
  };

  function drawOrders(perMinute, anomalies) {
    const xs = perMinute.rows.map((r) => Date.parse(r.minute) / 1000);
    const orders = perMinute.rows.map((r) => Number(r.orders));
    const flagged = new Set(
      anomalies.rows
        .filter((a) => a.metric === 'product_orders_per_minute')
        .map((a) => Math.floor(Date.parse(a.event_time) / 60000) * 60),
    );
    const marks = xs.map((x, i) => (flagged.has(x) ? orders[i] : null));
    plot(
      'orders',
      $('chart-orders'),
      {
        tzDate: utc,
        scales: { x: xScale() },
        axes: [{ label: 'UTC' }, { label: 'orders / min', size: 60 }],
        series: [
          {},
          {
            label: 'Orders',
            stroke: '#1f6feb',
            fill: 'rgba(31,111,235,0.10)',
            width: 2,
            points: { show: xs.length < 120 },
          },
          { label: 'Anomaly', ...anomalyPoints },
        ],
      },
      [xs, orders, marks],
    );
  }

  function drawRevenue(revenue, anomalies) {
    const currencies = [...new Set(revenue.rows.map((r) => r.currency))].sort();
    const xs = [...new Set(revenue.rows.map((r) => Date.parse(r.window_start) / 1000))].sort((a, b) => a - b);
    const at = new Map(
      revenue.rows.map((r) => [`${r.currency}|${Date.parse(r.window_start) / 1000}`, Number(r.revenue)]),
    );
    const series = currencies.map((c) => xs.map((x) => at.get(`${c}|${x}`) ?? null));
    const flagged = new Set(
      anomalies.rows
        .filter((a) => a.metric === 'order_amount_cents')
        .map((a) => `${a.key}|${Math.floor(Date.parse(a.event_time) / 300000) * 300}`),
    );
    const marks = xs.map((x) => {
      const hit = currencies.findIndex((c) => flagged.has(`${c}|${x}`));
      return hit >= 0 ? series[hit][xs.indexOf(x)] : null;
    });
    plot(
      'revenue',
      $('chart-revenue'),
      {
        tzDate: utc,
        scales: { x: xScale() },
        axes: [{ label: 'UTC' }, { label: 'revenue / 5 min', size: 70 }],
        series: [
          {},
          ...currencies.map((c, i) => ({
            label: c,
            stroke: PALETTE[i % PALETTE.length],
            fill: `${PALETTE[i % PALETTE.length]}99`,
            width: 1,
            paths: uPlot.paths.bars({ size: [0.8 / currencies.length, 60], align: 1 }),
            points: { show: false },
            value: (_u, v) => (v === null ? '-' : fmt.money(v)),
          })),
          { label: 'Anomaly', ...anomalyPoints },
        ],
      },
      [xs, ...series, marks],
    );
  }

  async function refresh() {
    const [perMinute, revenue, top, anomalies, sessions, fresh] = await Promise.all([
      api('/v1/metrics/orders-per-minute'),
      api('/v1/metrics/revenue-5m'),
      api('/v1/metrics/top-products?limit=10'),
      api('/v1/metrics/anomalies-latest?limit=20'),
      api('/v1/metrics/customer-sessions?limit=10'),
      api('/v1/metrics/freshness'),
    ]);
    const sum = (rows, key) => rows.reduce((n, r) => n + Number(r[key]), 0);
    $('kpi-orders').textContent = fmt.int(sum(perMinute.rows, 'orders'));
    $('kpi-units').textContent = fmt.int(sum(perMinute.rows, 'units'));
    const byCurrency = {};
    for (const r of revenue.rows) byCurrency[r.currency] = (byCurrency[r.currency] ?? 0) + Number(r.revenue);
    $('kpi-revenue').textContent =
      Object.entries(byCurrency)
        .map(([c, v]) => `${fmt.money(v)} ${c}`)
        .join(' / ') || '0.00';
    $('kpi-sessions').textContent = fmt.int(sessions.rows.length);
    $('kpi-anomalies').textContent = fmt.int(anomalies.rows.length);
    const times = [
      ...perMinute.rows.map((r) => Date.parse(r.minute) / 1000),
      ...revenue.rows.map((r) => Date.parse(r.window_start) / 1000),
    ];
    // room for the last 5-minute bar, which starts at its window start
    const last = Math.max(Date.now() / 1000, ...times) + 300;
    timeRange = [Math.min(last - 3600, ...times) - 60, last];
    drawOrders(perMinute, anomalies);
    drawRevenue(revenue, anomalies);
    fillTable(
      'top-products',
      top.rows,
      (r) => [
        [r.name ?? fmt.short(r.product_id), '', r.product_id],
        [fmt.int(r.orders), 'num'],
        [fmt.int(r.units), 'num'],
      ],
      'no orders in the last 24 h',
    );
    fillTable(
      'anomalies',
      anomalies.rows,
      (a) => [
        [fmt.time(a.event_time)],
        [a.metric === 'product_orders_per_minute' ? 'product orders/min' : 'order amount (cents)'],
        [fmt.short(a.key), '', a.key],
        [fmt.int(a.value), 'num'],
        [Number(a.mean).toFixed(1), 'num'],
        [Number(a.score).toFixed(1), 'num'],
      ],
      'no anomalies',
    );
    fillTable(
      'sessions',
      sessions.rows,
      (s) => [
        [fmt.short(s.customer_id), '', s.customer_id],
        [fmt.time(s.session_start)],
        [fmt.time(s.session_end)],
        [fmt.int(s.events), 'num'],
        [fmt.int(s.orders), 'num'],
      ],
      'no sessions in the last 24 h',
    );
    $('silver-lag').textContent = fmt.lag(fresh.silverLagSeconds);
    $('gold-lag').textContent = fmt.lag(fresh.goldLagSeconds);
    $('gold-window').textContent = fmt.time(fresh.latestGoldWindowEnd);
    $('gold-landed').textContent = fmt.time(fresh.latestGoldLandedAt);
    fillTable(
      'jobs',
      fresh.jobs,
      (j) => [[j.name], [j.state], [fmt.int(j.consumerLag), 'num'], [fmt.time(j.watermark)]],
      'no stream jobs registered',
    );
    $('jobs-error').textContent = fresh.jobsError ? `Job status unavailable: ${fresh.jobsError}` : '';
    $('snapshot').textContent = String(perMinute.snapshotId);
    document.body.dataset.snapshot = String(perMinute.snapshotId);
    $('updated').textContent = new Date().toISOString().slice(11, 19);
  }

  // One refresh at a time; a snapshot pushed during a refresh triggers exactly one more.
  function scheduleRefresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = refresh()
      .catch((error) => {
        if (error.auth) return showLogin(error.message);
        $('updated').textContent = `failed (${error.message})`;
      })
      .finally(() => {
        refreshing = null;
        if (again) {
          again = false;
          scheduleRefresh();
        }
      });
  }

  // Server-sent events over fetch (EventSource cannot send the Authorization header); reconnects after 2 s.
  async function listen() {
    for (;;) {
      try {
        const response = await fetch('/v1/live', {
          headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
        });
        if (response.status === 401 || response.status === 403) {
          $('live').textContent = 'signed out';
          return; // the refresh shows the login form with the reason
        }
        if (!response.ok || !response.body) throw new Error(`live: HTTP ${response.status}`);
        $('live').textContent = 'live';
        $('live').className = 'badge on';
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = /^data: (.*)$/m.exec(frame);
            if (/^event: snapshot$/m.test(frame) && data) {
              const { snapshotId } = JSON.parse(data[1]);
              if (snapshotId !== shownSnapshot) {
                shownSnapshot = snapshotId;
                scheduleRefresh();
              }
            }
            end = buffer.indexOf('\n\n');
          }
        }
      } catch {
        // fall through to the reconnect below
      }
      $('live').textContent = 'reconnecting';
      $('live').className = 'badge off';
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  function showLogin(message) {
    sessionStorage.removeItem('bv-dashboard-token');
    $('board').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message ?? '';
    $('tenant').textContent = '';
  }

  function tenantOfToken(jwt) {
    try {
      const payload = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
      return `tenant ${payload.tenant}`;
    } catch {
      return '';
    }
  }

  function start() {
    $('login').hidden = true;
    $('board').hidden = false;
    $('tenant').textContent = tenantOfToken(token);
    scheduleRefresh();
    listen();
  }

  $('login').addEventListener('submit', (event) => {
    event.preventDefault();
    token = $('token-input').value.trim();
    sessionStorage.setItem('bv-dashboard-token', token);
    start();
  });

  token = readToken();
  if (token) start();
  else showLogin();
})();
