// The runs page: a table of every run, filtered by status and experiment, updated live.
import { atRisk, count, duration, eta, getJson, h, percent, progressBar, since, subscribe } from './common.js';

const body = document.querySelector('#runs tbody');
const statusFilter = document.getElementById('status-filter');
const experimentFilter = document.getElementById('experiment-filter');
const params = new URLSearchParams(location.search);
statusFilter.value = params.get('status') ?? '';
let runs = [];

function render() {
  const experiments = [...new Set(runs.map((r) => r.experiment))].sort();
  const chosen = experimentFilter.value || params.get('experiment') || '';
  experimentFilter.replaceChildren(h('option', { value: '' }, 'all'), ...experiments.map((e) => h('option', {}, e)));
  experimentFilter.value = experiments.includes(chosen) ? chosen : '';
  const shown = runs
    .filter(
      (r) =>
        (!statusFilter.value || r.status === statusFilter.value) &&
        (!experimentFilter.value || r.experiment === experimentFilter.value),
    )
    .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : 0));
  body.replaceChildren(
    ...shown.map((r) =>
      h(
        'tr',
        { 'data-run-id': r.id, 'data-status': r.status },
        h('td', {}, h('a', { href: `/runs/${encodeURIComponent(r.id)}` }, r.id)),
        h('td', {}, r.experiment),
        h('td', {}, h('span', { class: `status ${r.status}`, 'data-field': 'status' }, r.status)),
        h(
          'td',
          { 'data-field': 'progress', 'data-done': r.doneRows },
          progressBar(r),
          ` ${percent(r).toFixed(1)}% of ${count(r.iterations)}`,
        ),
        h('td', { class: 'num' }, r.status === 'running' ? count(r.rowsPerSecond) : '–'),
        h('td', { class: 'num' }, duration(eta(r))),
        h('td', { class: 'num' }, since(r.lastFlushAt)),
        h('td', { class: 'num' }, count(atRisk(r))),
        h('td', { class: 'num' }, since(r.updatedAt)),
      ),
    ),
  );
  document.getElementById('empty').hidden = runs.length > 0;
  document.getElementById('count').textContent = `${shown.length} of ${runs.length} runs`;
}

function keepFiltersInUrl() {
  const q = new URLSearchParams();
  if (statusFilter.value) q.set('status', statusFilter.value);
  if (experimentFilter.value) q.set('experiment', experimentFilter.value);
  history.replaceState(null, '', `${location.pathname}${q.size ? `?${q}` : ''}`);
  render();
}

statusFilter.addEventListener('change', keepFiltersInUrl);
experimentFilter.addEventListener('change', keepFiltersInUrl);
// Sweeps: their points are ordinary runs (in the table below too); a row per sweep.
async function renderSweeps() {
  const sweeps = await getJson('/api/sweeps');
  document.getElementById('sweeps-section').hidden = sweeps.length === 0;
  document
    .querySelector('#sweeps tbody')
    .replaceChildren(
      ...sweeps.map((s) =>
        h(
          'tr',
          { 'data-sweep-id': s.id, 'data-status': s.status },
          h('td', {}, h('a', { href: `/sweeps/${encodeURIComponent(s.id)}` }, s.id)),
          h('td', {}, s.experiment),
          h('td', {}, h('span', { class: `status ${s.status}` }, s.status)),
          h('td', {}, progressBar({ doneRows: s.done, iterations: s.total }), ` ${s.done} of ${s.total}`),
          h(
            'td',
            {},
            h(
              'ul',
              { class: 'points' },
              ...s.points.map((p) =>
                h(
                  'li',
                  {},
                  h('a', { href: `/runs/${encodeURIComponent(p.runId)}` }, JSON.stringify(p.params)),
                  ` · seed ${p.seed} · `,
                  h('span', { class: `status ${p.status}` }, p.status),
                  ` · ${count(p.flushedRows)}`,
                ),
              ),
            ),
          ),
          h('td', { class: 'num' }, since(s.updatedAt)),
        ),
      ),
    );
}

subscribe((list) => {
  runs = list;
  render();
  renderSweeps().catch(() => {});
}, document.getElementById('live'));
// Ages ("3s ago") move on between updates.
setInterval(render, 1000);
