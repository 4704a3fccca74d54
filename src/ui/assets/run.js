// A run's page: spec, progress, a chart of a column over the flushed rows (downsampled on
// the server) that grows as rows are flushed, a histogram, stats, events and the log tail.
// The chart and log follow every flush (the server reads only the new rows); the histogram
// and stats read every flushed row, so for a running run they are computed when the page
// opens, when the column changes, when the run stops, and on their refresh buttons.
import uPlot from '/vendor/uPlot.esm.js';
import { atRisk, count, duration, eta, getJson, h, percent, since, subscribe } from './common.js';

const id = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const api = `/api/runs/${encodeURIComponent(id)}`;
const $ = (sel) => document.querySelector(sel);
const columnSelect = $('#column');
let run;
let chart;
let hist;
let shownRows = -1;
let shownColumn = '';
let busy = false;
let again = false;
// Whether the histogram and stats are to be recomputed at the next refresh.
let heavy = true;
let lastStatus = '';
// A pending request for the rest of the chart's rows.
let catchUp;

document.title = `mmrun — ${id}`;
$('#run-id').textContent = id;

function showError(error) {
  $('#error').hidden = false;
  $('#error').textContent = String(error.message ?? error);
}

// Scalar columns by name, vector columns element by element (the first 16).
function columnNames(columns) {
  const names = [];
  for (const [name, spec] of Object.entries(columns)) {
    if (Array.isArray(spec)) for (let i = 0; i < Math.min(spec[1], 16); i++) names.push(`${name}[${i}]`);
    else names.push(name);
  }
  return names;
}

function renderHeader() {
  $('#status').className = `status ${run.status}`;
  $('#status').textContent = run.status;
  $('#status').dataset.status = run.status;
  $('#bar-fill').style.width = `${Math.min(100, percent(run))}%`;
  $('#progress-text').textContent =
    `${percent(run).toFixed(1)}% — ${count(run.doneRows)} of ${count(run.iterations)} rows flushed` +
    (run.status === 'running'
      ? ` · ${count(run.rowsPerSecond)} rows/s · ETA ${duration(eta(run))} · last flush ${since(run.lastFlushAt)} · at risk ${count(atRisk(run))} rows`
      : '');
  $('#progress-text').dataset.flushed = run.flushedRows;
}

function renderSpec() {
  const items = [
    ['experiment', `${run.experiment} (${run.experimentPath})`],
    ['params', JSON.stringify(run.params)],
    ['seed', run.seed],
    ['source', `sha256 ${run.sourceHash}`],
    ['host', run.owner ? `${run.owner.host} (pid ${run.owner.pid})` : '–'],
    ['flush', `every ${count(run.flushEvery)} rows or ${run.flushInterval} s`],
    ['workers', run.workers],
    ['dtype', `${run.dtype} (${run.itemsize} bytes/row)`],
    ['segments', `${run.segments.length} × up to ${count(run.segmentRows)} rows`],
    ['created', run.createdAt],
    ['updated', run.updatedAt],
  ];
  if (run.error) items.push(['error', run.error]);
  $('#spec').replaceChildren(...items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
  $('#downloads').replaceChildren(
    ...['npy', 'csv', 'arrow', 'jsonl'].map((f) =>
      h('a', { href: `${api}/export?format=${f}`, download: `${id}.${f}` }, `.${f}`),
    ),
  );
  $('#events tbody').replaceChildren(
    ...(run.events ?? [])
      .slice(-30)
      .reverse()
      .map((e) =>
        h('tr', {}, h('td', {}, e.at), h('td', {}, e.type), h('td', {}, e.data === null ? '' : JSON.stringify(e.data))),
      ),
  );
}

const chartWidth = (el) => Math.max(300, el.clientWidth || 600);

async function renderChart() {
  const column = columnSelect.value;
  const el = $('#chart');
  const points = Math.min(20000, 4 * chartWidth(el));
  const s = await getJson(`${api}/series?column=${encodeURIComponent(column)}&points=${points}`);
  const data = [s.x, s.y];
  const rows =
    s.rows < s.flushedRows
      ? `${count(s.rows)} of ${count(s.flushedRows)} flushed rows (catching up)`
      : `${count(s.rows)} flushed rows`;
  $('#chart-note').textContent = `${rows}${s.downsampled ? `, min/max of ${count(s.x.length / 4)} buckets` : ''}`;
  el.dataset.points = String(s.x.length);
  el.dataset.rows = String(s.rows);
  // The server reads a bounded slice of new rows per request: ask again until caught up.
  if (s.rows < s.flushedRows && catchUp === undefined) {
    catchUp = setTimeout(() => {
      catchUp = undefined;
      renderChart().catch(showError);
    }, 250);
  }
  if (chart && shownColumn === column) {
    chart.setData(data);
  } else {
    chart?.destroy();
    chart = new uPlot(
      {
        width: chartWidth(el),
        height: 260,
        scales: { x: { time: false } },
        axes: [{ label: 'row' }, { label: column }],
        series: [{ label: 'row' }, { label: column, stroke: '#2f6fde', width: 1, points: { show: s.x.length < 200 } }],
        legend: { show: true },
      },
      data,
      el,
    );
    shownColumn = column;
  }
}

async function renderHistogram() {
  const column = columnSelect.value;
  const el = $('#hist');
  const d = await getJson(`${api}/histogram?column=${encodeURIComponent(column)}`);
  const centers = d.counts.map((_, k) => (d.edges[k] + d.edges[k + 1]) / 2);
  $('#hist-note').textContent =
    `${count(d.total)} values in ${d.counts.length} bins, over ${count(d.flushedRows)} flushed rows`;
  hist?.destroy();
  hist = new uPlot(
    {
      width: chartWidth(el),
      height: 200,
      scales: { x: { time: false } },
      axes: [{ label: column }, { label: 'count' }],
      series: [
        { label: column },
        {
          label: 'count',
          fill: '#2f6fde55',
          stroke: '#2f6fde',
          paths: uPlot.paths.bars({ size: [0.95, Infinity] }),
          points: { show: false },
        },
      ],
      legend: { show: false },
    },
    [centers, d.counts],
    el,
  );
}

async function renderStats() {
  const s = await getJson(`${api}/stats`);
  const fmt = (v) =>
    v === null || v === undefined ? '–' : typeof v === 'number' ? Number(v.toPrecision(6)).toString() : String(v);
  const cols = ['count', 'mean', 'std', 'min', 'p01', 'p50', 'p99', 'max', 'nan'];
  $('#stats thead').replaceChildren(
    h('tr', {}, h('th', {}, 'column'), ...cols.map((c) => h('th', { class: 'num' }, c))),
  );
  $('#stats tbody').replaceChildren(
    ...Object.entries(s.columns).map(([name, c]) =>
      h('tr', {}, h('td', {}, name), ...cols.map((k) => h('td', { class: 'num' }, fmt(c[k])))),
    ),
  );
  $('#stats-note').textContent = `over ${count(s.rows)} flushed rows`;
}

async function renderLog() {
  const { lines } = await getJson(`${api}/log?tail=100`);
  $('#log').textContent = lines
    .map((l) =>
      typeof l === 'string'
        ? l
        : `${new Date(l.time ?? 0).toISOString()} ${l.msg ?? ''} ${JSON.stringify({ ...l, time: undefined, msg: undefined, pid: undefined, hostname: undefined, level: undefined })}`,
    )
    .join('\n');
}

// Re-reads the run and, when it has new flushed rows (or another column was chosen), its
// data. One refresh at a time; a change meanwhile schedules one more.
async function refresh(force = false) {
  if (busy) {
    again = true;
    return;
  }
  busy = true;
  try {
    run = await getJson(api);
    renderHeader();
    renderSpec();
    if (!columnSelect.options.length) {
      columnSelect.replaceChildren(...columnNames(run.columns).map((c) => h('option', {}, c)));
    }
    if (lastStatus === 'running' && run.status !== 'running') heavy = true;
    lastStatus = run.status;
    if (force || heavy || run.flushedRows !== shownRows) {
      shownRows = run.flushedRows;
      await renderChart();
      await Promise.all([renderLog(), ...(force || heavy ? [renderHistogram(), renderStats()] : [])]);
      heavy = false;
    }
  } catch (error) {
    showError(error);
  } finally {
    busy = false;
    if (again) {
      again = false;
      setTimeout(() => refresh(), 250);
    }
  }
}

columnSelect.addEventListener('change', () => refresh(true));
$('#hist-refresh').addEventListener('click', () => renderHistogram().catch(showError));
$('#stats-refresh').addEventListener('click', () => renderStats().catch(showError));
await refresh(true);
let last = '';
subscribe((runs) => {
  const mine = runs.find((r) => r.id === id);
  if (!mine) return;
  const key = `${mine.status}|${mine.flushedRows}|${mine.updatedAt}`;
  if (key !== last) {
    last = key;
    refresh();
  }
}, $('#live'));
setInterval(() => run && renderHeader(), 1000);
