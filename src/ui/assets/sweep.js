// A sweep's page: its points (params, seed, status, flushed rows, each linking to its run)
// and a chart of a column's mean against one swept param, ± standard error over replicates,
// one line per value of the other params. Points update live; the chart on refresh.
import uPlot from '/vendor/uPlot.esm.js';
import { count, getJson, h, subscribe } from './common.js';

const id = decodeURIComponent(location.pathname.split('/').pop());
const api = `/api/sweeps/${encodeURIComponent(id)}`;
const $ = (q) => document.querySelector(q);
const columnSelect = $('#column');
const xSelect = $('#x');
let chart;
let stats;

function showError(e) {
  $('#error').hidden = false;
  $('#error').textContent = String(e?.message ?? e);
}

async function renderPoints() {
  const s = await getJson(api);
  $('#sweep-id').textContent = `${s.id} · ${s.experiment}`;
  $('#status').textContent = s.status;
  $('#status').className = `status ${s.status}`;
  $('#status').dataset.status = s.status;
  $('#progress').textContent = `${s.done} of ${s.total} completed`;
  const keys = [...new Set(s.points.flatMap((p) => Object.keys(p.params)))];
  $('#points thead').replaceChildren(
    h(
      'tr',
      {},
      h('th', {}, 'run'),
      ...keys.map((k) => h('th', {}, k)),
      h('th', {}, 'seed'),
      h('th', {}, 'status'),
      h('th', { class: 'num' }, 'flushed rows'),
    ),
  );
  $('#points tbody').replaceChildren(
    ...s.points.map((p) =>
      h(
        'tr',
        { 'data-run-id': p.runId },
        h(
          'td',
          {},
          p.status === 'pending' ? p.runId : h('a', { href: `/runs/${encodeURIComponent(p.runId)}` }, p.runId),
        ),
        ...keys.map((k) => h('td', {}, String(p.params[k]))),
        h('td', {}, String(p.seed)),
        h('td', {}, h('span', { class: `status ${p.status}` }, p.status)),
        h('td', { class: 'num' }, count(p.flushedRows)),
      ),
    ),
  );
  return s;
}

async function renderChart() {
  const q = columnSelect.value ? `?column=${encodeURIComponent(columnSelect.value)}` : '';
  stats = await getJson(`${api}/stats${q}`);
  if (!columnSelect.value && stats.column) {
    const run = stats.points.find((p) => p.status !== 'pending');
    const columns = run ? Object.keys((await getJson(`/api/runs/${encodeURIComponent(run.runId)}`)).columns) : [];
    columnSelect.replaceChildren(...columns.map((c) => h('option', {}, c)));
    columnSelect.value = stats.column;
  }
  if (xSelect.options.length === 0) {
    xSelect.replaceChildren(...stats.keys.map((k) => h('option', {}, k)));
  }
  draw();
}

function draw() {
  const x = xSelect.value;
  const numeric = (v) => typeof v === 'number';
  const sets = stats.sets.filter((s) => s.mean !== null && numeric(s.params[x]));
  const xs = [...new Set(sets.map((s) => s.params[x]))].sort((a, b) => a - b);
  const groupOf = (s) => JSON.stringify(Object.fromEntries(Object.entries(s.params).filter(([k]) => k !== x)));
  const groups = [...new Set(sets.map(groupOf))];
  const series = [{ label: x }];
  const data = [xs];
  const colors = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#e67700', '#0b7285'];
  groups.forEach((g, k) => {
    const color = colors[k % colors.length];
    const at = (v, f) => {
      const s = sets.find((t) => groupOf(t) === g && t.params[x] === v);
      return s ? f(s) : null;
    };
    const label = g === '{}' ? stats.column : g;
    series.push({ label, stroke: color, width: 2, points: { show: true } });
    data.push(xs.map((v) => at(v, (s) => s.mean)));
    series.push({ label: `${label} − se`, stroke: `${color}88`, dash: [4, 4], points: { show: false } });
    data.push(xs.map((v) => at(v, (s) => (s.stderr === null ? null : s.mean - s.stderr))));
    series.push({ label: `${label} + se`, stroke: `${color}88`, dash: [4, 4], points: { show: false } });
    data.push(xs.map((v) => at(v, (s) => (s.stderr === null ? null : s.mean + s.stderr))));
  });
  const el = $('#chart');
  chart?.destroy();
  chart = new uPlot(
    {
      width: Math.max(300, el.clientWidth || 800),
      height: 300,
      scales: { x: { time: false } },
      axes: [{ label: x }, { label: `mean ${stats.column}` }],
      series,
      legend: { show: true },
    },
    data,
    el,
  );
  el.dataset.points = String(xs.length * groups.length);
  $('#chart-note').textContent = `${sets.length} parameter sets with rows, ${stats.points.length} points`;
}

columnSelect.addEventListener('change', () => renderChart().catch(showError));
xSelect.addEventListener('change', () => (stats ? draw() : undefined));
$('#refresh').addEventListener('click', () => renderChart().catch(showError));

renderPoints()
  .then(() => renderChart())
  .catch(showError);
// The feed says when any run changed: the points table follows.
subscribe(() => {
  renderPoints().catch(showError);
}, $('#live'));
