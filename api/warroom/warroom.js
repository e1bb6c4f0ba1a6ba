// The war room page: polls /warroom/data.json every second and keeps five minutes of snapshots in
// memory; rates, availability and percentiles are differences between snapshots.
'use strict';

const POLL_MS = 1000;
const KEEP_MS = 5 * 60 * 1000;
const STATE_COLOURS = { closed: '#3fb950', 'half-open': '#d29922', open: '#f85149' };
const KIND_COLOURS = { model: '#58a6ff', mode: '#d29922', data: '#bc8cff' };
const SVG = 'http://www.w3.org/2000/svg';
const history = [];

const $ = (id) => document.getElementById(id);
const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '–');
const ms = (s) => (Number.isFinite(s) ? (s < 1 ? `${Math.round(s * 1000)} ms` : `${s.toFixed(2)} s`) : '–');

/** The snapshot closest to `ago` ms before the newest one. */
function before(ago) {
  const last = history[history.length - 1];
  for (let i = history.length - 1; i >= 0; i--) if (last.at - history[i].at >= ago) return history[i];
  return history[0];
}

/** Histogram quantile over the bucket differences between two snapshots (linear in a bucket). */
function quantile(q, now, then) {
  const rows = now.buckets.map(([le, c], i) => [le, c - (then.buckets[i] ? then.buckets[i][1] : 0)]);
  const total = now.count - then.count;
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of rows) {
    if (c >= rank) return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-9, c - prevCount);
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

/** An element; `style` is an object set through the CSSOM (the page's CSP refuses style attributes). */
function el(tag, attrs = {}, text) {
  const e = tag === 'svg' || ['polyline', 'rect', 'line', 'text', 'g'].includes(tag) ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'style') Object.assign(e.style, v);
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The time span the charts show: what has been seen so far, from 20 s to five minutes. */
function span() {
  const last = history[history.length - 1];
  return Math.max(20000, Math.min(KEEP_MS, last.at - history[0].at));
}

/** Line chart of several series of [t, y] points over the kept window. */
function lineChart(box, series, unit) {
  const w = 600;
  const h = 100;
  const now = history[history.length - 1].at;
  const window = span();
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points.map((p) => p[1]).filter(Number.isFinite)));
  const svg = el('svg', { viewBox: `0 0 ${w} ${h}`, preserveAspectRatio: 'none' });
  svg.appendChild(el('line', { x1: 0, y1: h - 1, x2: w, y2: h - 1, stroke: '#2a3040' }));
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1])).map(([t, y]) => `${(w * (1 - (now - t) / window)).toFixed(1)},${(h - 4 - (h - 8) * (y / max)).toFixed(1)}`);
    if (pts.length) svg.appendChild(el('polyline', { points: pts.join(' '), fill: 'none', stroke: s.colour, 'stroke-width': 2, 'vector-effect': 'non-scaling-stroke' }));
  }
  const legend = el('div', { class: 'legend' });
  for (const s of series) {
    legend.appendChild(el('i', { style: { background: s.colour } }));
    legend.appendChild(document.createTextNode(s.name));
  }
  legend.appendChild(document.createTextNode(`  (max ${unit(max)})`));
  box.replaceChildren(svg, legend);
}

/** Per-second rate of `value(snapshot)` at each kept snapshot (over the previous 10 s). */
function rateSeries(value) {
  return history.map((s, i) => {
    let j = i;
    while (j > 0 && s.at - history[j].at < 10000) j--;
    const dt = (s.at - history[j].at) / 1000;
    return [s.at, dt > 0 ? (value(s) - value(history[j])) / dt : NaN];
  });
}

function renderKpis(last, minute, half) {
  const d = (k) => (last.requests[k] || 0) - (minute.requests[k] || 0);
  const good = d('completed');
  const bad = d('failed');
  const avail = good + bad > 0 ? (100 * good) / (good + bad) : NaN;
  $('kpi-availability').textContent = Number.isFinite(avail) ? `${avail.toFixed(2)} %` : '–';
  $('kpi-availability').className = avail >= 99.9 ? 'good' : avail >= 99 ? 'warn' : Number.isFinite(avail) ? 'bad' : '';
  $('kpi-availability-detail').textContent = `${good} completed, ${bad} failed, ${d('rejected')} rejected (client)`;
  const dt = Math.max(1, (last.at - minute.at) / 1000);
  const all = (s) => Object.values(s.requests).reduce((a, b) => a + b, 0);
  $('kpi-rate').textContent = fmt((all(last) - all(minute)) / dt, 2);
  $('kpi-inflight').textContent = last.jobsInFlight === undefined ? '' : `${last.jobsInFlight} in flight`;
  $('kpi-latency').textContent = [0.5, 0.95, 0.99].map((q) => ms(quantile(q, last.latency, half.latency))).join(' / ');
  const sum = (s) => s.failovers.reduce((a, f) => a + f.count, 0);
  $('kpi-failovers').textContent = String(sum(last) - sum(minute));
  const open = last.targets.filter((t) => t.breaker === 'open').length;
  $('kpi-open').textContent = `${open} / ${last.targets.length}`;
  $('kpi-open').className = open ? 'bad' : 'good';
  const trips = last.targets.reduce((a, t) => a + t.trips, 0);
  $('kpi-trips').textContent = `${trips} trip(s) seen by this process`;
}

function renderTargets(last, prev) {
  const dt = Math.max(0.001, (last.at - prev.at) / 1000);
  const rows = last.targets.map((t) => {
    const p = prev.targets.find((x) => x.id === t.id) || t;
    return { t, rate: (t.ok + t.errors - p.ok - p.errors) / dt, errors: t.errors - p.errors, calls: t.ok + t.errors - p.ok - p.errors };
  });
  const total = rows.reduce((a, r) => a + Math.max(0, r.rate), 0);
  $('targets').tBodies[0].replaceChildren(
    ...rows.map(({ t, rate, errors, calls }) => {
      const tr = el('tr', { 'data-target': t.id });
      tr.appendChild(el('td', {}, t.id));
      tr.appendChild(el('td', {}, t.region));
      const state = el('td');
      state.appendChild(el('span', { class: `state ${t.breaker || 'unknown'}` }, t.breaker || 'unknown'));
      tr.appendChild(state);
      tr.appendChild(el('td', {}, fmt(rate, 1)));
      tr.appendChild(el('td', { class: errors ? 'bad' : '' }, calls ? `${Math.round((100 * errors) / calls)} %` : '–'));
      const bar = el('td');
      bar.appendChild(el('div', { class: `bar${errors && errors === calls ? ' err' : ''}`, style: { width: `${total ? (100 * Math.max(0, rate)) / total : 0}%` } }));
      tr.appendChild(bar);
      return tr;
    }),
  );
}

function renderTimeline(last) {
  // The newest snapshot holds until the next poll: the right edge is one poll ahead of it.
  const now = last.at + POLL_MS;
  const w = 600;
  const window = span();
  $('timeline').replaceChildren(
    ...last.targets.map((t) => {
      const row = el('div', { class: 'row', 'data-target': t.id });
      row.appendChild(el('span', {}, `${t.id} `));
      const svg = el('svg', { viewBox: `0 0 ${w} 16`, preserveAspectRatio: 'none' });
      history.forEach((s, i) => {
        const state = (s.targets.find((x) => x.id === t.id) || {}).breaker;
        const next = history[i + 1] ? history[i + 1].at : now;
        const x = w * (1 - (now - s.at) / window);
        const width = Math.max(1, (w * (next - s.at)) / window);
        svg.appendChild(el('rect', { x: x.toFixed(1), y: 0, width: width.toFixed(1), height: 16, fill: STATE_COLOURS[state] || '#30363d', 'data-state': state || 'unknown' }));
      });
      row.appendChild(svg);
      return row;
    }),
  );
}

function renderFailovers(last, minute) {
  const rows = last.failovers
    .map((f) => ({ ...f, count: f.count - ((minute.failovers.find((x) => x.from === f.from && x.to === f.to && x.reason === f.reason) || {}).count || 0) }))
    .filter((f) => f.count > 0)
    .sort((a, b) => b.count - a.count);
  $('failovers').tBodies[0].replaceChildren(
    ...(rows.length ? rows : [{ from: 'none', to: '', reason: '', count: '' }]).map((f) => {
      const tr = el('tr');
      for (const v of [f.from, f.to, f.reason, f.count]) tr.appendChild(el('td', {}, String(v)));
      return tr;
    }),
  );
  lineChart($('failover-chart'), [{ name: 'failovers / s', colour: '#f85149', points: rateSeries((s) => s.failovers.reduce((a, f) => a + f.count, 0)) }], (x) => `${fmt(x, 2)}/s`);
}

function renderDegradations(last, minute) {
  const kinds = Object.keys(KIND_COLOURS);
  $('degradations').replaceChildren(
    ...kinds.map((k) => {
      const li = el('li', { 'data-kind': k });
      li.appendChild(el('b', {}, String((last.degradations[k] || 0) - (minute.degradations[k] || 0))));
      li.appendChild(document.createTextNode(` ${k}`));
      return li;
    }),
  );
  lineChart($('degradation-chart'), kinds.map((k) => ({ name: k, colour: KIND_COLOURS[k], points: rateSeries((s) => s.degradations[k] || 0) })), (x) => `${fmt(x, 2)}/s`);
}

function renderLatency(last, half) {
  const series = [
    [0.5, 'p50', '#3fb950'],
    [0.95, 'p95', '#d29922'],
    [0.99, 'p99', '#f85149'],
  ].map(([q, name, colour]) => ({
    name,
    colour,
    points: history.map((s) => {
      const then = history.find((x) => s.at - x.at <= 30000) || s;
      return [s.at, quantile(q, s.latency, then.latency)];
    }),
  }));
  lineChart($('latency-chart'), series, ms);
  $('ttft').textContent = `time to first token (streams, last 30 s): p50 ${ms(quantile(0.5, last.ttft, half.ttft))}, p95 ${ms(quantile(0.95, last.ttft, half.ttft))}`;
}

function render() {
  const last = history[history.length - 1];
  const prev = history[Math.max(0, history.length - 3)];
  const minute = before(60000);
  const half = before(30000);
  renderKpis(last, minute, half);
  renderTargets(last, prev);
  renderTimeline(last);
  renderFailovers(last, minute);
  renderDegradations(last, minute);
  renderLatency(last, half);
  $('status').textContent = `updated ${new Date(last.at).toLocaleTimeString()}`;
  document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
}

async function poll() {
  try {
    const res = await fetch('/warroom/data.json', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    history.push(await res.json());
    while (history.length > 2 && history[history.length - 1].at - history[0].at > KEEP_MS) history.shift();
    render();
  } catch (err) {
    $('status').textContent = `cannot reach the gateway (${err.message}); retrying`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
