// The reviewers' lineage browser: search, a lineage graph laid out by elkjs and drawn as SVG (pan, zoom, click
// through), dataset pages, job pages and run pages. It reads only the Marquez-compatible API of this service.
/* global ELK */
const main = document.getElementById('main');
const params = new URLSearchParams(location.search);
if (params.get('token')) {
  sessionStorage.setItem('bv-lineage-token', params.get('token'));
  history.replaceState(null, '', location.pathname + location.hash);
}
const token = () => sessionStorage.getItem('bv-lineage-token');
const enc = encodeURIComponent;
const esc = (s) =>
  String(s ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
const when = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) : '-');
const duration = (ms) =>
  ms == null
    ? '-'
    : ms < 1000
      ? `${ms} ms`
      : ms < 120000
        ? `${(ms / 1000).toFixed(1)} s`
        : `${(ms / 60000).toFixed(1)} min`;

async function api(path) {
  const response = await fetch(`/api/v1${path}`, { headers: { authorization: `Bearer ${token()}` } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error?.message ?? response.statusText);
  return body;
}

function tokenForm(message) {
  main.innerHTML = `<div class="card"><h1>Sign in</h1><p>${esc(message)}</p>
    <form class="token"><input name="t" placeholder="bearer token (POST /auth/token of the services)"> <button>Use token</button></form></div>`;
  main.querySelector('form').onsubmit = (e) => {
    e.preventDefault();
    sessionStorage.setItem('bv-lineage-token', new FormData(e.target).get('t'));
    route();
  };
}

// ------------------------------------------------------------------ search
const search = document.getElementById('search');
const results = document.getElementById('results');
let searchTimer;
search.addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const q = search.value.trim();
    if (!q) {
      results.hidden = true;
      return;
    }
    const { results: found } = await api(`/search?q=${enc(q)}&limit=12`);
    results.innerHTML = found.length
      ? found
          .map(
            (r) =>
              `<li><a href="${hrefOf(r.type, r.namespace, r.name)}"><span class="badge">${r.type}</span> ${esc(r.name)} <small>${esc(r.namespace)}</small></a></li>`,
          )
          .join('')
      : '<li><a>No match</a></li>';
    results.hidden = false;
  }, 150);
});
results.addEventListener('click', () => {
  results.hidden = true;
  search.value = '';
});

function hrefOf(type, namespace, name) {
  return `#/${type === 'JOB' ? 'job' : 'dataset'}/${enc(namespace)}/${enc(name)}`;
}

// ------------------------------------------------------------------ graph
const CHAR = 8.8; // px per character of the bold 14px label, with room to spare
const elk = new ELK();

async function lineageGraph(nodeId, up, down) {
  const [u, d] = await Promise.all([
    api(`/lineage?nodeId=${enc(nodeId)}&depth=${up}&direction=upstream`),
    api(`/lineage?nodeId=${enc(nodeId)}&depth=${down}&direction=downstream`),
  ]);
  const nodes = new Map();
  const edges = new Map();
  const seen = new Set([...u.graph, ...d.graph].map((n) => n.id));
  for (const n of [...u.graph, ...d.graph]) {
    nodes.set(n.id, n);
    for (const e of [...n.inEdges, ...n.outEdges])
      if (seen.has(e.origin) && seen.has(e.destination)) edges.set(`${e.origin}>${e.destination}`, e);
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

async function drawGraph(container, rootId, state) {
  container.innerHTML = '<p class="sub">Laying out...</p>';
  const { nodes, edges } = await lineageGraph(rootId, state.up, state.down);
  const size = (n) => {
    const label = n.data.name;
    const kind = n.type === 'JOB' ? `job · ${n.data.type}` : shortNs(n.data.namespace);
    return { width: Math.max(label.length, kind.length * 0.9) * CHAR + 28, height: 52, label, kind };
  };
  const layout = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.spacing.nodeNode': '28',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70',
      'elk.edgeRouting': 'ORTHOGONAL',
    },
    children: nodes.map((n) => ({ id: n.id, ...size(n) })),
    edges: edges.map((e, i) => ({ id: `e${i}`, sources: [e.origin], targets: [e.destination] })),
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const paths = (layout.edges ?? [])
    .flatMap((e) => e.sections ?? [])
    .map((s) => {
      const pts = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint];
      return `<path class="edge" marker-end="url(#arrow)" d="M${pts.map((p) => `${p.x},${p.y}`).join(' L')}"/>`;
    })
    .join('');
  const boxes = layout.children
    .map((c) => {
      const n = byId.get(c.id);
      const { label, kind } = size(n);
      return `<g class="node ${n.type}${c.id === rootId ? ' root' : ''}" data-id="${esc(c.id)}" data-type="${n.type}"
          data-ns="${esc(n.data.namespace)}" data-name="${esc(n.data.name)}" transform="translate(${c.x},${c.y})">
        <title>${esc(c.id)}</title>
        <rect width="${c.width}" height="${c.height}" rx="${n.type === 'JOB' ? 14 : 4}"/>
        <text class="label" x="14" y="22">${esc(label)}</text>
        <text class="kind" x="14" y="40">${esc(kind)}</text></g>`;
    })
    .join('');
  const W = layout.width + 40;
  const H = layout.height + 40;
  container.innerHTML = `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="lineage graph">
      <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M0,0 L10,5 L0,10 z" fill="#8a93a3"/></marker></defs>
      <g class="viewport">${paths}${boxes}</g></svg>`;
  const svg = container.querySelector('svg');
  const viewport = svg.querySelector('.viewport');
  // Fit, but never shrink the text below a readable size; pan to see the rest.
  const box = container.getBoundingClientRect();
  let scale = Math.max(0.8, Math.min(1.25, box.width / W, box.height / H));
  let tx = Math.max(20, (box.width - layout.width * scale) / 2);
  let ty = Math.max(20, (box.height - layout.height * scale) / 2);
  if (layout.width * scale > box.width) {
    // Too wide to fit readably: show the side just expanded (its far end), else centre on the chosen node.
    const root = layout.children.find((c) => c.id === rootId);
    if (state.anchor === 'left') tx = 20;
    else if (state.anchor === 'right') tx = box.width - 20 - layout.width * scale;
    else if (root) tx = box.width / 2 - (root.x + root.width / 2) * scale;
  }
  const apply = () => viewport.setAttribute('transform', `translate(${tx},${ty}) scale(${scale})`);
  apply();
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = svg.getBoundingClientRect();
    const mx = e.clientX - r.left;
    const my = e.clientY - r.top;
    const next = Math.min(3, Math.max(0.2, scale * (e.deltaY < 0 ? 1.15 : 1 / 1.15)));
    tx = mx - ((mx - tx) * next) / scale;
    ty = my - ((my - ty) * next) / scale;
    scale = next;
    apply();
  });
  let drag = null;
  svg.addEventListener('pointerdown', (e) => {
    drag = { x: e.clientX, y: e.clientY, tx, ty, moved: false };
    svg.classList.add('dragging');
  });
  window.addEventListener('pointermove', (e) => {
    if (!drag) return;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) drag.moved = true;
    tx = drag.tx + e.clientX - drag.x;
    ty = drag.ty + e.clientY - drag.y;
    apply();
  });
  window.addEventListener('pointerup', () => {
    svg.classList.remove('dragging');
    setTimeout(() => (drag = null), 0);
  });
  svg.addEventListener('click', (e) => {
    const g = e.target.closest('.node');
    if (!g || drag?.moved) return;
    location.hash = hrefOf(g.dataset.type, g.dataset.ns, g.dataset.name);
  });
  svg.dataset.nodes = String(nodes.length);
}

function shortNs(ns) {
  return ns.length > 34 ? `${ns.slice(0, 33)}…` : ns;
}

function graphPanel(rootId) {
  const state = { up: 2, down: 2, anchor: 'root' };
  const wrap = document.createElement('div');
  wrap.innerHTML = `<div class="controls">
      <span>Upstream <b class="up">${state.up}</b></span>
      <button class="expand-up" title="one more level upstream">Expand upstream</button>
      <button class="less-up">-</button>
      <span>Downstream <b class="down">${state.down}</b></span>
      <button class="expand-down" title="one more level downstream">Expand downstream</button>
      <button class="less-down">-</button>
      <span class="sub">drag to pan, wheel to zoom, click a node to open it</span></div>
    <div class="graph"></div>`;
  const graph = wrap.querySelector('.graph');
  const redraw = () => {
    wrap.querySelector('.up').textContent = state.up;
    wrap.querySelector('.down').textContent = state.down;
    drawGraph(graph, rootId, state).catch((e) => (graph.innerHTML = `<p class="error">${esc(e.message)}</p>`));
  };
  const change = (side, by, anchor) => () => {
    state[side] = Math.max(0, state[side] + by);
    state.anchor = anchor;
    redraw();
  };
  wrap.querySelector('.expand-up').onclick = change('up', 2, 'left');
  wrap.querySelector('.less-up').onclick = change('up', -2, 'root');
  wrap.querySelector('.expand-down').onclick = change('down', 2, 'right');
  wrap.querySelector('.less-down').onclick = change('down', -2, 'root');
  setTimeout(redraw, 0);
  return wrap;
}

// ------------------------------------------------------------------ pages
async function home() {
  const { namespaces } = await api('/namespaces');
  const lists = await Promise.all(namespaces.map((n) => api(`/namespaces/${enc(n.name)}/jobs?limit=50`)));
  main.innerHTML = `<h1>Lineage</h1><div class="sub">Search for a dataset or job above, or open a job below.</div>
    <div class="card"><h2>Jobs</h2><table><tr><th>Job</th><th>Type</th><th>Latest run</th><th>Updated</th></tr>
    ${lists
      .flatMap((l) => l.jobs)
      .map(
        (j) => `<tr><td><a href="${hrefOf('JOB', j.namespace, j.name)}">${esc(j.name)}</a></td><td>${j.type}</td>
        <td>${j.latestRun ? `<span class="badge ${j.latestRun.state}">${j.latestRun.state}</span>` : '-'}</td><td>${when(j.updatedAt)}</td></tr>`,
      )
      .join('')}</table></div>`;
}

function fieldDiff(older, newer) {
  const before = new Map((older?.fields ?? []).map((f) => [f.name, f.type]));
  const after = new Map((newer.fields ?? []).map((f) => [f.name, f.type]));
  const out = [];
  for (const [name, type] of after) {
    if (!before.has(name)) out.push(`<span class="diff-add">+ ${esc(name)} ${esc(type)}</span>`);
    else if (before.get(name) !== type)
      out.push(`<span class="diff-chg">~ ${esc(name)} ${esc(before.get(name))} → ${esc(type)}</span>`);
  }
  for (const [name, type] of before)
    if (!after.has(name)) out.push(`<span class="diff-del">- ${esc(name)} ${esc(type)}</span>`);
  if (!older) return 'first version';
  const facetChanges = Object.keys({ ...older.facets, ...newer.facets })
    .filter((k) => k !== 'schema' && JSON.stringify(older.facets[k]) !== JSON.stringify(newer.facets[k]))
    .map((k) => `<span class="diff-chg">facet ${esc(k)} changed</span>`);
  return [...out, ...facetChanges].join('<br>') || 'no visible change';
}

async function datasetPage(namespace, name) {
  const path = `/namespaces/${enc(namespace)}/datasets/${enc(name)}`;
  const [ds, { versions }] = await Promise.all([api(path), api(`${path}/versions?limit=20`)]);
  const nodeId = `dataset:${namespace}:${name}`;
  const columns = await api(`/column-lineage?nodeId=${enc(nodeId)}&depth=1`);
  const owners = ds.facets.ownership?.owners ?? [];
  const quality = ds.facets.dataQualityAssertions?.assertions ?? [];
  const incoming = columns.graph.filter(
    (n) => n.data.dataset === name && n.data.namespace === namespace && n.data.inputFields.length,
  );
  main.innerHTML = `<h1>${esc(name)}</h1><div class="sub">dataset · ${esc(ds.type)} · ${esc(namespace)}</div>
    <div class="card" id="graph-card"><h2>Lineage</h2></div>
    <div class="layout">
      <div class="card"><h2>About</h2>
        ${ds.description ? `<p>${esc(ds.description)}</p>` : ''}
        <div><b>Owners:</b> ${owners.map((o) => `${esc(o.name)}${o.type ? ` (${esc(o.type)})` : ''}`).join(', ') || 'none recorded'}</div>
        <div><b>Tags:</b> ${ds.tags.map((t) => `<span class="tag">${esc(t)}</span>`).join('') || 'none'}</div>
        <div><b>Last modified:</b> ${when(ds.lastModifiedAt)}</div></div>
      <div class="card" id="quality"><h2>Latest quality result</h2>${
        quality.length
          ? `<table><tr><th>Check</th><th>Column</th><th>Result</th></tr>${quality
              .map(
                (a) =>
                  `<tr><td>${esc(a.assertion)}</td><td>${esc(a.column ?? 'table')}</td><td><span class="badge ${a.success ? 'pass' : 'fail'}">${a.success ? 'passed' : 'failed'}</span></td></tr>`,
              )
              .join('')}</table>`
          : '<p class="sub">No quality run has reported on this dataset.</p>'
      }</div>
    </div>
    <div class="layout"><div class="card" id="schema"><h2>Schema</h2><table><tr><th>Column</th><th>Type</th><th>Tags</th><th>Description</th></tr>
      ${ds.fields.map((f) => `<tr><td>${esc(f.name)}</td><td>${esc(f.type)}</td><td>${f.tags.map((t) => `<span class="tag">${esc(t)}</span>`).join('')}</td><td>${esc(f.description ?? '')}</td></tr>`).join('')}</table>
      <h2>Column lineage</h2>${
        incoming.length
          ? `<table id="column-lineage"><tr><th>Column</th><th>Derived from</th><th>How</th></tr>${incoming
              .map(
                (
                  n,
                ) => `<tr><td>${esc(n.data.field)}</td><td>${n.data.inputFields.map((i) => `<a href="${hrefOf('DATASET', i.namespace, i.dataset)}">${esc(i.dataset)}</a>.${esc(i.field)}`).join('<br>')}</td>
                <td>${esc(n.data.transformationDescription ?? n.data.transformationType ?? '')}</td></tr>`,
              )
              .join('')}</table>`
          : '<p class="sub">No column lineage reported.</p>'
      }</div>
    <div class="card" id="versions"><h2>Version history</h2><table><tr><th>Created</th><th>Written by</th><th>What changed</th></tr>
      ${versions
        .map(
          (v, i) =>
            `<tr><td>${when(v.createdAt)}</td><td>${v.createdByRun ? `<a href="#/run/${v.createdByRun.id}">${esc(v.createdByRun.jobVersion.name)}</a>` : '-'}</td><td>${fieldDiff(versions[i + 1], v)}</td></tr>`,
        )
        .join('')}</table></div></div>`;
  document.getElementById('graph-card').append(graphPanel(nodeId));
}

function rowsOut(run) {
  return run.outputDatasetVersions
    .map((o) => o.facets.outputStatistics)
    .filter(Boolean)
    .map((s) => `${s.rowCount ?? '?'} rows${s.size ? `, ${(s.size / 1024).toFixed(0)} KiB` : ''}`)
    .join('; ');
}

async function jobPage(namespace, name) {
  const path = `/namespaces/${enc(namespace)}/jobs/${enc(name)}`;
  const [job, { runs }] = await Promise.all([api(path), api(`${path}/runs?limit=50`)]);
  main.innerHTML = `<h1>${esc(name)}</h1><div class="sub">job · ${esc(job.type)} · ${esc(job.facets.jobType?.jobType ?? '')} · ${esc(namespace)}</div>
    ${job.description ? `<p>${esc(job.description)}</p>` : ''}
    <div class="card" id="graph-card"><h2>Lineage</h2></div>
    <div class="card" id="runs"><h2>Runs</h2><table><tr><th>Run</th><th>Status</th><th>Started</th><th>Duration</th><th>Output</th><th>Error</th></tr>
      ${runs
        .map(
          (
            r,
          ) => `<tr><td><a class="run-link" href="#/run/${r.id}">…${r.id.slice(-12)}</a></td><td><span class="badge ${r.state}">${r.state}</span></td>
          <td>${when(r.startedAt ?? r.createdAt)}</td><td>${duration(r.durationMs)}</td><td>${esc(rowsOut(r))}</td>
          <td class="error">${esc(r.facets.errorMessage?.message ?? '')}</td></tr>`,
        )
        .join('')}</table></div>`;
  document.getElementById('graph-card').append(graphPanel(`job:${namespace}:${name}`));
}

async function runPage(id) {
  const run = await api(`/jobs/runs/${enc(id)}`);
  const { facets: jobFacets } = await api(`/jobs/runs/${enc(id)}/facets?type=job`);
  const err = run.facets.errorMessage;
  const side = (list) =>
    list
      .map(
        (
          d,
        ) => `<tr><td><a href="${hrefOf('DATASET', d.datasetVersionId.namespace, d.datasetVersionId.name)}">${esc(d.datasetVersionId.name)}</a></td>
        <td>${esc(d.datasetVersionId.namespace)}</td><td>${d.facets.outputStatistics ? `${d.facets.outputStatistics.rowCount ?? '?'} rows` : ''}</td></tr>`,
      )
      .join('');
  main.innerHTML = `<h1>Run ${esc(run.id)}</h1>
    <div class="sub">of <a href="${hrefOf('JOB', run.jobVersion.namespace, run.jobVersion.name)}">${esc(run.jobVersion.name)}</a> · ${esc(jobFacets.jobType?.processingType ?? '')}</div>
    <div class="layout"><div class="card" id="run">
      <table><tr><th>Status</th><td><span class="badge ${run.state}">${run.state}</span></td></tr>
      <tr><th>Started</th><td>${when(run.startedAt)}</td></tr><tr><th>Ended</th><td>${when(run.endedAt)}</td></tr>
      <tr><th>Duration</th><td>${duration(run.durationMs)}</td></tr>
      <tr><th>Engine</th><td>${esc(run.facets.processing_engine ? `${run.facets.processing_engine.name} ${run.facets.processing_engine.version}` : '-')}</td></tr></table>
      ${err ? `<h2>Error</h2><p class="error">${esc(err.message)}</p>${err.stackTrace ? `<pre>${esc(err.stackTrace)}</pre>` : ''}` : ''}
      </div>
    <div class="card"><h2>Inputs</h2><table>${side(run.inputDatasetVersions) || '<tr><td>none</td></tr>'}</table>
      <h2>Outputs</h2><table>${side(run.outputDatasetVersions) || '<tr><td>none</td></tr>'}</table>
      <h2>Run facets</h2><pre>${esc(JSON.stringify(run.facets, null, 2))}</pre></div></div>`;
}

async function route() {
  if (!token()) return tokenForm('Paste a bearer token to browse lineage.');
  const [, page, a, b] = location.hash.split('/');
  try {
    document.getElementById('who').textContent = 'signed in';
    if (page === 'dataset') await datasetPage(decodeURIComponent(a), decodeURIComponent(b));
    else if (page === 'job') await jobPage(decodeURIComponent(a), decodeURIComponent(b));
    else if (page === 'run') await runPage(decodeURIComponent(a));
    else await home();
    document.body.dataset.page = page || 'home';
  } catch (error) {
    if (/token/i.test(error.message)) return tokenForm(error.message);
    main.innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }
}
window.addEventListener('hashchange', route);
route();
