// Shared by the pages: API calls, live updates, number and time formats.

// A token in the address has been traded for a cookie by now: keep it out of the address bar.
{
  const q = new URLSearchParams(location.search);
  if (q.has('token')) {
    q.delete('token');
    history.replaceState(null, '', `${location.pathname}${q.size ? `?${q}` : ''}`);
  }
}

/** GETs a JSON endpoint; a non-2xx answer throws its `error.message`. */
export async function getJson(url) {
  const res = await fetch(url, { headers: { Accept: 'application/json' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

/**
 * Calls `onRuns(runs)` with every run list the server pushes (server-sent events from
 * /api/events: at once, then on every change). `live` is an element that shows the state.
 */
export function subscribe(onRuns, live) {
  const source = new EventSource('/api/events');
  source.addEventListener('runs', (e) => {
    live.textContent = 'live';
    live.classList.add('on');
    onRuns(JSON.parse(e.data));
  });
  source.addEventListener('error', () => {
    live.textContent = 'reconnecting…';
    live.classList.remove('on');
  });
  return source;
}

export const count = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

export const since = (iso) => (iso ? `${duration((Date.now() - Date.parse(iso)) / 1000)} ago` : '–');

/** Percent of the rows done (all shards). */
export const percent = (run) => (run.iterations > 0 ? (100 * run.doneRows) / run.iterations : 100);

/** Seconds left at the recent rate, for a running run. */
export const eta = (run) =>
  run.status === 'running' && run.rowsPerSecond ? (run.iterations - run.doneRows) / run.rowsPerSecond : null;

/** Rows a crash right now would lose at most (running runs only). */
export const atRisk = (run) => (run.status === 'running' ? run.worstCaseLoss.rows : null);

/** An element with attributes and children (strings become text, never HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function progressBar(run) {
  const p = percent(run);
  return h('div', { class: 'bar', title: `${p.toFixed(1)}%` }, h('div', { style: `width:${Math.min(100, p)}%` }));
}
