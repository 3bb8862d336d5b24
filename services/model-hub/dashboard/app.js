/**
 * The managers' dashboard: plain ES modules, ECharts from the hub (window.echarts), data from the
 * hub API with the viewer's token. Views: all stores, one store, one camera, fleet, models. Live: the page
 * listens to `/v1/live` (SSE) and refreshes the view after new events (at most once a second).
 */
import { clearToken, get, getOrNull, saveToken, token, Unauthorized } from './api.js';
import { formatNumber, formatTime, getLang, initialLang, setLang, t } from './i18n.js';

const view = document.getElementById('view');
const liveBadge = document.getElementById('live');
const langButton = document.getElementById('lang');
const logoutButton = document.getElementById('logout');
let charts = [];
let live;
let refreshTimer;
let rendering = Promise.resolve();
/** Set by the camera view: redraws its picture when the hub announces a new snapshot. */
let onSnapshot;
const sort = { key: 'storeId', dir: 1 };
const HOUR = 3_600_000;

/** A DOM element; children are nodes or text (never parsed as HTML: store names are data). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat())
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** An SVG element (the overlay over a camera's picture). */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat())
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : String(c));
  return el;
}

function chart(el, option) {
  const c = window.echarts.init(el, null, { renderer: 'canvas' });
  c.setOption({ animation: false, ...option });
  charts.push(c);
  return c;
}

const card = (label, value, testid) =>
  h(
    'div',
    { class: 'card' },
    h('div', { class: 'num', 'data-testid': testid }, value),
    h('div', { class: 'label' }, label),
  );

const hhmm = (iso, tz) => formatTime(iso, tz, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const day = (iso, tz) => formatTime(iso, tz, { month: 'short', day: 'numeric' });

// Views ---------------------------------------------------------------------------------------------

function renderLogin(failed = false) {
  logoutButton.hidden = true;
  const input = h('input', {
    type: 'password',
    name: 'token',
    autocomplete: 'off',
    placeholder: 'svh_…',
    'data-testid': 'token',
  });
  const form = h(
    'form',
    {
      class: 'login card',
      onsubmit: (e) => {
        e.preventDefault();
        saveToken(input.value.trim());
        route();
      },
    },
    h('h1', {}, t('login.title')),
    h('p', { class: 'muted' }, t('login.hint')),
    failed ? h('p', { class: 'error', 'data-testid': 'login-error' }, t('login.bad')) : null,
    input,
    h('button', { type: 'submit', 'data-testid': 'login-submit' }, t('login.submit')),
  );
  view.replaceChildren(form);
  input.focus();
}

async function renderStores() {
  const now = Date.now();
  const [{ stores }, spark, week] = await Promise.all([
    get('/v1/stores'),
    get('/v1/metrics/compare', {
      metric: 'footfall_in',
      bucket: '1h',
      from: new Date(Math.floor(now / HOUR) * HOUR - 23 * HOUR).toISOString(),
      to: new Date(now).toISOString(),
    }),
    get('/v1/metrics/compare', { metric: 'footfall_in', bucket: '1d' }),
  ]);
  const sparkOf = new Map(spark.stores.map((s) => [s.storeId, s.points]));
  const key = (s) =>
    ({
      storeId: s.name,
      status: s.nodes.up,
      last: s.lastEventTime ?? '',
      in: s.today.footfallIn,
      out: s.today.footfallOut,
      alerts: s.today.alerts,
    })[sort.key];
  const rows = [...stores].sort((a, b) => (key(a) > key(b) ? sort.dir : key(a) < key(b) ? -sort.dir : 0));
  const th = (k, label) =>
    h(
      'th',
      {
        'data-sort': k,
        onclick: () => {
          sort.dir = sort.key === k ? -sort.dir : 1;
          sort.key = k;
          route();
        },
      },
      label,
    );
  const sparkCells = [];
  const table = h(
    'table',
    { 'data-testid': 'stores' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        th('storeId', t('col.store')),
        th('status', t('col.status')),
        th('last', t('col.last')),
        th('in', t('col.in')),
        th('out', t('col.out')),
        th('alerts', t('col.alerts')),
        h('th', {}, t('col.trend')),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((s) => {
        const sparkCell = h('div', { class: 'spark' });
        sparkCells.push([sparkCell, sparkOf.get(s.storeId) ?? []]);
        return h(
          'tr',
          { 'data-store': s.storeId },
          h('td', {}, h('a', { href: `#/store/${encodeURIComponent(s.storeId)}` }, s.name)),
          h(
            'td',
            {},
            h('span', { class: s.nodes.up > 0 ? 'dot up' : 'dot' }),
            `${s.nodes.up} / ${s.nodes.total}`,
          ),
          h('td', {}, formatTime(s.lastEventTime, s.timezone)),
          h('td', { class: 'num', 'data-testid': 'today-in' }, formatNumber(s.today.footfallIn)),
          h('td', { class: 'num' }, formatNumber(s.today.footfallOut)),
          h('td', { class: 'num' }, formatNumber(s.today.alerts)),
          h('td', {}, sparkCell),
        );
      }),
    ),
  );
  const compareEl = h('div', { class: 'chart' });
  view.replaceChildren(
    h('h1', {}, t('stores.title')),
    stores.length === 0 ? h('p', { class: 'muted' }, t('stores.none')) : table,
    h('div', { class: 'card', style: 'margin-top: 1rem' }, h('h2', {}, t('stores.compare')), compareEl),
  );
  for (const [el, points] of sparkCells)
    chart(el, {
      grid: { left: 0, right: 0, top: 2, bottom: 2 },
      xAxis: { type: 'category', show: false, data: points.map((p) => p.t) },
      yAxis: { type: 'value', show: false },
      series: [
        { type: 'line', data: points.map((p) => p.value), symbol: 'none', areaStyle: { opacity: 0.2 } },
      ],
    });
  const byName = new Map(stores.map((s) => [s.storeId, s]));
  chart(compareEl, {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 40, right: 10, top: 30, bottom: 30 },
    xAxis: {
      type: 'category',
      data: (week.stores[0]?.points ?? []).map((p) => day(p.t, byName.get(week.stores[0].storeId)?.timezone)),
    },
    yAxis: { type: 'value' },
    series: week.stores.map((s) => ({
      type: 'bar',
      name: byName.get(s.storeId)?.name ?? s.storeId,
      data: s.points.map((p) => p.value),
    })),
  });
}

async function renderStore(storeId) {
  const { stores } = await get('/v1/stores');
  const store = stores.find((s) => s.storeId === storeId);
  if (!store) throw new Error(`no store ${storeId}`);
  const tz = store.timezone;
  const m = (metric, bucket, extra = {}) =>
    get(`/v1/stores/${encodeURIComponent(storeId)}/metrics`, { metric, bucket, ...extra });
  const footIn = await m('footfall_in', '1h');
  const span = Date.parse(footIn.to) - Date.parse(footIn.from);
  const weekAgo = Date.parse(footIn.from) - 7 * 86_400_000;
  const [{ cameras }, lastWeek, footOut, occupancy, dwell, queueLength, queueWait, alerts] =
    await Promise.all([
      get(`/v1/stores/${encodeURIComponent(storeId)}/cameras`),
      m('footfall_in', '1h', {
        from: new Date(weekAgo).toISOString(),
        to: new Date(weekAgo + span).toISOString(),
      }),
      m('footfall_out', '1h'),
      m('occupancy', '5m'),
      m('dwell', '1d'),
      m('queue_length', '5m'),
      m('queue_wait', '5m'),
      m('alerts', '1h'),
    ]);
  const occupancyNow = [...occupancy.points].reverse().find((p) => p.value !== null)?.value ?? null;
  const el = () => h('div', { class: 'chart' });
  const [fEl, oEl, dEl, qEl, aEl] = [el(), el(), el(), el(), el()];
  const panel = (title, chartEl) => h('div', { class: 'card' }, h('h2', {}, title), chartEl);
  view.replaceChildren(
    h('h1', { 'data-testid': 'store-name' }, store.name),
    h(
      'p',
      { class: 'muted' },
      `${t('timezone')}: ${tz} · ${t('col.status')}: ${store.nodes.up} / ${store.nodes.total}`,
    ),
    h(
      'div',
      { class: 'cards' },
      card(t('store.footfallIn'), formatNumber(footIn.total.value), 'footfall-in'),
      card(t('store.footfallOut'), formatNumber(footOut.total.value), 'footfall-out'),
      card(t('store.occupancyNow'), formatNumber(occupancyNow), 'occupancy-now'),
      card(t('store.alertsToday'), formatNumber(alerts.total.value), 'alerts-today'),
    ),
    h(
      'div',
      { class: 'grid' },
      panel(t('store.footfallHourly'), fEl),
      panel(t('store.occupancy'), oEl),
      panel(t('store.dwell'), dEl),
      panel(t('store.queue'), qEl),
      panel(t('store.alerts'), aEl),
    ),
    h(
      'div',
      { class: 'card', style: 'margin-top: 1rem' },
      h('h2', {}, t('store.cameras')),
      cameras.length === 0
        ? h('p', { class: 'muted' }, t('camera.none'))
        : h(
            'ul',
            { class: 'cameras', 'data-testid': 'cameras' },
            cameras.map((c) =>
              h(
                'li',
                { 'data-camera': c.cameraId },
                h(
                  'a',
                  { href: `#/store/${encodeURIComponent(storeId)}/camera/${encodeURIComponent(c.cameraId)}` },
                  c.cameraId,
                ),
                h('span', { class: 'muted' }, ` · ${c.nodeId} · ${hhmm(c.lastEventTime, tz)}`),
              ),
            ),
          ),
    ),
  );
  const axis = (points, fmt = hhmm) => ({ type: 'category', data: points.map((p) => fmt(p.t, tz)) });
  const base = {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 40, right: 40, top: 30, bottom: 30 },
  };
  chart(fEl, {
    ...base,
    xAxis: axis(footIn.points),
    yAxis: { type: 'value', minInterval: 1 },
    series: [
      { type: 'bar', name: t('store.today'), data: footIn.points.map((p) => p.value) },
      {
        type: 'line',
        name: t('store.lastWeek'),
        data: lastWeek.points.map((p) => p.value),
        lineStyle: { type: 'dashed' },
      },
    ],
  });
  chart(oEl, {
    ...base,
    xAxis: axis(occupancy.points),
    yAxis: { type: 'value', minInterval: 1 },
    series: Object.entries(occupancy.byKey).map(([zone, points]) => ({
      type: 'line',
      name: zone,
      data: points.map((p) => p.value),
      connectNulls: true,
      symbolSize: 5,
      showAllSymbol: true,
    })),
  });
  const zones = Object.keys(dwell.byKey);
  const dwellOf = (k) => zones.map((z) => dwell.byKey[z][0]?.[k] ?? null);
  chart(dEl, {
    ...base,
    xAxis: { type: 'category', data: zones },
    yAxis: { type: 'value' },
    series: [
      { type: 'bar', name: t('store.mean'), data: dwellOf('value') },
      { type: 'bar', name: 'p50', data: dwellOf('p50') },
      { type: 'bar', name: 'p90', data: dwellOf('p90') },
    ],
  });
  chart(qEl, {
    ...base,
    xAxis: axis(queueLength.points),
    yAxis: [{ type: 'value', minInterval: 1 }, { type: 'value' }],
    series: [
      {
        type: 'line',
        name: t('store.queueLength'),
        data: queueLength.points.map((p) => p.value),
        connectNulls: true,
        symbolSize: 5,
        showAllSymbol: true,
      },
      {
        type: 'line',
        name: t('store.queueWait'),
        yAxisIndex: 1,
        data: queueWait.points.map((p) => p.value),
        connectNulls: true,
        symbolSize: 5,
        showAllSymbol: true,
      },
    ],
  });
  chart(aEl, {
    ...base,
    xAxis: axis(alerts.points),
    yAxis: { type: 'value', minInterval: 1 },
    series: Object.entries(alerts.byKey).map(([zone, points]) => ({
      type: 'bar',
      stack: 'alerts',
      name: zone,
      data: points.map((p) => p.value),
    })),
  });
}

/**
 * One camera: its latest picture from the edge (downscaled, people blurred there) with the boxes of
 * that frame and the camera's zones and lines drawn over it; per zone how many people are there now
 * (the newest 5-minute mean), per line who went in and out today, from the hub's rollups. A new
 * snapshot (SSE `snapshot`) replaces the picture in place.
 */
async function renderCamera(storeId, cameraId) {
  const sid = encodeURIComponent(storeId);
  const [{ stores }, { cameras }] = await Promise.all([get('/v1/stores'), get(`/v1/stores/${sid}/cameras`)]);
  const store = stores.find((s) => s.storeId === storeId);
  const camera = cameras.find((c) => c.cameraId === cameraId);
  if (!store || !camera) throw new Error(`${t('camera.unknown')}: ${storeId} / ${cameraId}`);
  const tz = store.timezone;
  const m = (metric, bucket) => get(`/v1/stores/${sid}/metrics`, { metric, bucket, camera: cameraId });
  const snapshotPath = `/v1/stores/${sid}/cameras/${encodeURIComponent(cameraId)}/snapshot/meta`;
  const [occupancy, footIn, footOut, snapshot] = await Promise.all([
    m('occupancy', '5m'),
    m('footfall_in', '1d'),
    m('footfall_out', '1d'),
    getOrNull(snapshotPath),
  ]);
  const latest = (points) => [...points].reverse().find((p) => p.value !== null)?.value ?? null;
  const sum = (points) => (points ?? []).reduce((n, p) => n + (p.value ?? 0), 0);
  const zones = Object.keys(occupancy.byKey).sort();
  const lines = [...new Set([...Object.keys(footIn.byKey), ...Object.keys(footOut.byKey)])].sort();
  const table = (head, rows) =>
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          head.map((c) => h('th', {}, c)),
        ),
      ),
      h('tbody', {}, rows),
    );
  const occEl = h('div', { class: 'chart' });
  const pictureCard = h('div', { class: 'card', style: 'margin-bottom: 1rem' });
  const showSnapshot = (s) =>
    pictureCard.replaceChildren(
      h('h2', {}, t('camera.snapshot')),
      s
        ? snapshotFigure(s, tz)
        : h('p', { class: 'muted', 'data-testid': 'snapshot-none' }, t('camera.noSnapshot')),
    );
  showSnapshot(snapshot);
  onSnapshot = async (n) => {
    if (n.storeId !== storeId || n.cameraId !== cameraId) return;
    const next = await getOrNull(snapshotPath);
    if (!next || onSnapshot === undefined) return;
    // Swap once the new picture is loaded: no blank frame in between.
    const img = new Image();
    img.src = next.imageUrl;
    await img.decode().catch(() => {});
    showSnapshot(next);
  };
  view.replaceChildren(
    h('p', {}, h('a', { href: `#/store/${sid}` }, `← ${store.name}`)),
    h('h1', { 'data-testid': 'camera-name' }, `${t('camera.title')} ${cameraId}`),
    h(
      'p',
      { class: 'muted' },
      `${t('camera.node')}: ${camera.nodeId} · ${t('col.last')}: ${hhmm(camera.lastEventTime, tz)}`,
    ),
    pictureCard,
    h(
      'div',
      { class: 'grid' },
      h(
        'div',
        { class: 'card' },
        h('h2', {}, t('camera.zones')),
        zones.length === 0
          ? h('p', { class: 'muted' }, t('camera.noZones'))
          : table(
              [t('camera.zone'), t('camera.now')],
              zones.map((z) =>
                h(
                  'tr',
                  { 'data-zone': z },
                  h('td', {}, z),
                  h('td', { 'data-testid': 'zone-now' }, formatNumber(latest(occupancy.byKey[z]))),
                ),
              ),
            ),
      ),
      h(
        'div',
        { class: 'card' },
        h('h2', {}, t('camera.lines')),
        lines.length === 0
          ? h('p', { class: 'muted' }, t('camera.noLines'))
          : table(
              [t('camera.line'), t('col.in'), t('col.out')],
              lines.map((l) =>
                h(
                  'tr',
                  { 'data-line': l },
                  h('td', {}, l),
                  h('td', { 'data-testid': 'line-in' }, formatNumber(sum(footIn.byKey[l]))),
                  h('td', { 'data-testid': 'line-out' }, formatNumber(sum(footOut.byKey[l]))),
                ),
              ),
            ),
      ),
      h('div', { class: 'card' }, h('h2', {}, t('store.occupancy')), occEl),
    ),
  );
  chart(occEl, {
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 40, right: 10, top: 30, bottom: 30 },
    xAxis: { type: 'category', data: occupancy.points.map((p) => hhmm(p.t, tz)) },
    yAxis: { type: 'value', minInterval: 1 },
    series: zones.map((z) => ({
      type: 'line',
      name: z,
      data: occupancy.byKey[z].map((p) => p.value),
      connectNulls: true,
      symbolSize: 5,
      showAllSymbol: true,
    })),
  });
}

/**
 * A snapshot with its overlay: an SVG in the picture's pixel space over the <img>, so it scales
 * with it. Coordinates from the hub are normalised (0–1). Zones are polygons labelled with the
 * people the edge counted in them at that frame; lines carry an arrow to their "in" side and
 * today's counts; boxes are the tracked people (dashed while predicted through an occlusion).
 */
function snapshotFigure(s, tz) {
  const W = s.width;
  const H = s.height;
  const pt = ([x, y]) => `${(x * W).toFixed(1)},${(y * H).toFixed(1)}`;
  const zones = s.zones.map((z) => {
    const cx = (z.polygon.reduce((a, p) => a + p[0], 0) / z.polygon.length) * W;
    const cy = (z.polygon.reduce((a, p) => a + p[1], 0) / z.polygon.length) * H;
    return svg(
      'g',
      {},
      svg('polygon', {
        class: 'zone',
        'data-zone': z.id,
        'data-kind': z.kind,
        points: z.polygon.map(pt).join(' '),
      }),
      svg(
        'text',
        { x: cx.toFixed(1), y: cy.toFixed(1), 'text-anchor': 'middle', 'data-zone-label': z.id },
        z.occupancy === undefined ? z.id : `${z.id} · ${z.occupancy}`,
      ),
    );
  });
  const lines = s.lines.map((l) => {
    const [ax, ay, bx, by] = [l.a[0] * W, l.a[1] * H, l.b[0] * W, l.b[1] * H];
    const mx = (ax + bx) / 2;
    const my = (ay + by) / 2;
    // The "in" vector, drawn 24 px long from the middle of the line.
    const len = Math.hypot((l.in?.[0] ?? 0) * W, (l.in?.[1] ?? 0) * H) || 1;
    const ix = mx + (((l.in?.[0] ?? 0) * W) / len) * 24;
    const iy = my + (((l.in?.[1] ?? 0) * H) / len) * 24;
    return svg(
      'g',
      {},
      svg('line', { class: 'line', 'data-line': l.id, x1: ax, y1: ay, x2: bx, y2: by }),
      l.in
        ? svg('line', { class: 'in-arrow', x1: mx, y1: my, x2: ix, y2: iy, 'marker-end': 'url(#sv-arrow)' })
        : null,
      svg(
        'text',
        { x: mx + 6, y: my - 6 },
        l.counts ? `${l.id}: ${t('camera.in')} ${l.counts.in} · ${t('camera.out')} ${l.counts.out}` : l.id,
      ),
    );
  });
  const boxes = s.boxes.map((b) => {
    const x = b.box.x1 * W;
    const y = b.box.y1 * H;
    return svg(
      'g',
      {},
      svg('rect', {
        class: 'box',
        'data-track': b.trackId,
        'data-state': b.state,
        x: x.toFixed(1),
        y: y.toFixed(1),
        width: ((b.box.x2 - b.box.x1) * W).toFixed(1),
        height: ((b.box.y2 - b.box.y1) * H).toFixed(1),
      }),
      svg(
        'text',
        { x: x.toFixed(1), y: Math.max(12, y - 3).toFixed(1) },
        b.trackId ? `#${b.trackId}` : b.label,
      ),
    );
  });
  const overlay = svg(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'data-testid': 'snapshot-overlay' },
    svg(
      'defs',
      {},
      svg(
        'marker',
        {
          id: 'sv-arrow',
          viewBox: '0 0 10 10',
          refX: 8,
          refY: 5,
          markerWidth: 5,
          markerHeight: 5,
          orient: 'auto',
        },
        svg('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#ffd400' }),
      ),
    ),
    zones,
    lines,
    boxes,
  );
  return h(
    'figure',
    { class: 'snapshot', 'data-testid': 'snapshot', 'data-frame': s.frameId },
    h(
      'div',
      { class: 'frame' },
      h('img', {
        src: s.imageUrl,
        width: W,
        height: H,
        alt: `${t('camera.snapshot')} ${s.cameraId}`,
        'data-testid': 'snapshot-image',
      }),
      overlay,
    ),
    h(
      'figcaption',
      {},
      `${t('camera.captured')} ${formatTime(s.capturedAt, tz, { dateStyle: 'short', timeStyle: 'medium' })} · ` +
        `${s.boxes.length} ${t('camera.people')} · ${t(s.blurred ? 'camera.privacy' : 'camera.privacyPlain')}`,
    ),
  );
}

async function renderFleet() {
  // Node health (models, versions) comes from the registry's node reports when there are any.
  const [{ stores }, reports] = await Promise.all([
    get('/v1/stores'),
    get('/v1/nodes').catch(() => ({ nodes: [] })),
  ]);
  const health = new Map(reports.nodes.map((n) => [n.nodeId, n]));
  const models = (n) =>
    (health.get(n.nodeId)?.health?.models ?? [])
      .map(
        (m) =>
          `${m.name}@${m.version} (${m.state}${m.errorRate ? `, ${formatNumber(m.errorRate * 100, 1)}% err` : ''})`,
      )
      .join(', ');
  const labels = (n) =>
    Object.entries(health.get(n.nodeId)?.labels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
  view.replaceChildren(
    h('h1', {}, t('fleet.title')),
    h(
      'table',
      { 'data-testid': 'fleet' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...[
            'col.store',
            'fleet.node',
            'col.status',
            'fleet.seen',
            'fleet.backlog',
            'fleet.labels',
            'nav.models',
          ].map((k) => h('th', {}, t(k))),
        ),
      ),
      h(
        'tbody',
        {},
        stores.flatMap((s) =>
          s.nodes.items.map((n) =>
            h(
              'tr',
              { 'data-node': n.nodeId },
              h('td', {}, s.name),
              h('td', {}, n.nodeId),
              h('td', {}, h('span', { class: n.up ? 'dot up' : 'dot' })),
              h('td', {}, formatTime(n.lastSeenAt, s.timezone)),
              h('td', { class: 'num' }, formatNumber(n.backlog)),
              h('td', {}, labels(n)),
              h('td', {}, models(n)),
            ),
          ),
        ),
      ),
    ),
  );
}

async function renderModels() {
  const [{ models }, { rollouts }] = await Promise.all([
    get('/v1/models'),
    get('/v1/rollouts').catch(() => ({ rollouts: [] })),
  ]);
  view.replaceChildren(
    h('h1', {}, t('models.title')),
    h(
      'table',
      { 'data-testid': 'models' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['models.name', 'models.latest', 'models.versions', 'models.aliases'].map((k) =>
            h('th', {}, t(k)),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        models.map((m) =>
          h(
            'tr',
            {},
            h('td', {}, m.name),
            h('td', {}, m.latestVersion),
            h('td', { class: 'num' }, m.versions),
            h(
              'td',
              {},
              Object.entries(m.aliases)
                .map(([a, v]) => `${a} → ${v}`)
                .join(', '),
            ),
          ),
        ),
      ),
    ),
    h('h2', { style: 'margin-top: 1.5rem' }, t('models.rollouts')),
    h(
      'table',
      { 'data-testid': 'rollouts' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['models.name', 'models.version', 'models.state', 'models.wave', 'models.stores'].map((k) =>
            h('th', {}, t(k)),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        rollouts.map((r) =>
          h(
            'tr',
            {},
            h('td', {}, r.model),
            h('td', {}, r.version),
            h('td', {}, r.state),
            h('td', { class: 'num' }, `${r.currentWave + 1} / ${r.waves.length}`),
            h('td', {}, r.stores.map((s) => `${s.storeId}: ${s.state}`).join(', ')),
          ),
        ),
      ),
    ),
  );
}

// Routing, live updates, language ----------------------------------------------------------------

async function draw() {
  for (const c of charts) c.dispose();
  charts = [];
  onSnapshot = undefined;
  if (!token()) {
    live?.close();
    live = undefined;
    liveBadge.dataset.state = 'off';
    return renderLogin();
  }
  logoutButton.hidden = false;
  const path = location.hash.replace(/^#/, '') || '/';
  try {
    const cameraPath = /^\/store\/([^/]+)\/camera\/([^/]+)$/.exec(path);
    if (cameraPath) await renderCamera(decodeURIComponent(cameraPath[1]), decodeURIComponent(cameraPath[2]));
    else if (path.startsWith('/store/')) await renderStore(decodeURIComponent(path.slice('/store/'.length)));
    else if (path === '/fleet') await renderFleet();
    else if (path === '/models') await renderModels();
    else await renderStores();
    connectLive();
  } catch (err) {
    if (err instanceof Unauthorized) {
      clearToken();
      return renderLogin(true);
    }
    view.replaceChildren(h('p', { class: 'error' }, String(err.message ?? err)));
  }
}

/** Renders the current view; calls never overlap (a live refresh waits for the one running). */
function route() {
  rendering = rendering.then(draw, draw);
  return rendering;
}

function connectLive() {
  if (live) return;
  live = new EventSource('/v1/live');
  live.onopen = () => {
    liveBadge.dataset.state = 'on';
  };
  live.onerror = () => {
    liveBadge.dataset.state = 'off';
  };
  live.addEventListener('ingest', () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(route, 1000);
  });
  // Only the camera view shows pictures; it swaps its own in place.
  live.addEventListener('snapshot', (e) => {
    const n = JSON.parse(e.data);
    onSnapshot?.(n).catch(() => {});
  });
}

function applyLang(l) {
  setLang(l);
  langButton.textContent = l === 'zh' ? 'English' : '中文';
  liveBadge.textContent = t('live');
}

langButton.addEventListener('click', () => {
  applyLang(getLang() === 'zh' ? 'en' : 'zh');
  route();
});
logoutButton.addEventListener('click', () => {
  clearToken();
  route();
});
window.addEventListener('hashchange', route);
window.addEventListener('resize', () => {
  for (const c of charts) c.resize();
});
applyLang(initialLang());
route();
