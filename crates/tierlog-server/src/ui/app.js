// The page at `/` of `tierlog serve`: the metric list, an expression over a time range, a
// chart and a table of the answer. Plain JavaScript, no library; every request goes to this
// server's own API (relative URLs, so a proxy may mount the server under a path), with the
// credentials the browser already holds for it. docs/serving.md, "The page", describes it.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const PALETTE = ['#2458c6', '#d1495b', '#2a9d8f', '#e9a23b', '#7b4fc9', '#3c8d2f',
    '#c2571a', '#1b8ec2', '#b83280', '#6b7280'];
  // Steps the automatic choice picks from: multiples of 10 s below a minute and whole
  // minutes above, so that the store's 10 s and 60 s tiers can answer windows of one step.
  const STEPS = [10, 20, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
    43200, 86400];
  const TARGET_POINTS = 240;
  // The automatic view draws bands from this step on: each point then stands for a bucket
  // of raw points (and the 60 s tier keeps such buckets after the raw points expire).
  const BAND_FROM_STEP = 60;
  const METRICS_EVERY_MS = 60000;

  const state = {
    metrics: [],
    run: null, // AbortController of the query in flight
    timer: null,
    metricsLoaded: 0,
    hidden: new Set(),
    expr: null, // the expression of the last run
    last: null, // what the chart shows: {series, start, end, step, band}
  };

  // ---- API ---------------------------------------------------------------------------

  class ApiError extends Error {}

  // Relative to the page, without the user and password that the base of a page opened with
  // them in its address keeps (fetch refuses such URLs; the browser sends the credentials it
  // cached for the page anyway).
  function apiUrl(path, params) {
    const u = new URL('api/v1/' + path, document.baseURI);
    u.username = '';
    u.password = '';
    u.search = new URLSearchParams(params || {}).toString();
    return u.href;
  }

  // GET an endpoint; resolves to {data, warnings}; rejects with ApiError carrying the
  // API's errorType and error (or the HTTP status and body when the answer is not JSON).
  async function api(path, params, signal) {
    const resp = await fetch(apiUrl(path, params), {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
    const text = await resp.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch (_) {
      body = null;
    }
    if (body && body.status === 'success') {
      return { data: body.data, warnings: body.warnings || [] };
    }
    if (body && body.status === 'error') {
      throw new ApiError(body.errorType + ': ' + body.error);
    }
    throw new ApiError('HTTP ' + resp.status + ' ' + resp.statusText + ': ' + text.trim());
  }

  // ---- formatting ----------------------------------------------------------------------

  const numFmt = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });
  const sciFmt = new Intl.NumberFormat(undefined, {
    maximumSignificantDigits: 3, notation: 'scientific',
  });
  function fmtNum(v) {
    if (!Number.isFinite(v)) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a >= 1e7 || a < 1e-3) ? sciFmt.format(v) : numFmt.format(v);
  }

  const fullTime = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  function fmtTime(sec) {
    return fullTime.format(new Date(sec * 1000));
  }

  function fmtDuration(sec) {
    const units = [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]];
    let out = '';
    let rest = sec;
    for (const [u, n] of units) {
      if (rest >= n) {
        const k = Math.floor(rest / n);
        out += k + u;
        rest -= k * n;
      }
    }
    if (rest > 0 || out === '') out += (Math.round(rest * 1000) / 1000) + 's';
    return out;
  }

  // "30", "30s", "1m30s", "2h", "1.5" (seconds), as the API takes them.
  function parseDuration(s) {
    s = s.trim();
    if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s);
    const re = /(\d+)(ms|s|m|h|d|w|y)/g;
    const mult = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
    let total = 0;
    let used = 0;
    let m;
    while ((m = re.exec(s)) !== null) {
      if (m.index !== used) return NaN;
      total += parseInt(m[1], 10) * mult[m[2]];
      used = re.lastIndex;
    }
    return used === s.length && used > 0 ? total : NaN;
  }

  // A series' name and labels as PromQL writes them: name{a="x", b="y"}.
  function seriesName(metric) {
    const name = metric.__name__ || '';
    const labels = Object.keys(metric)
      .filter((k) => k !== '__name__')
      .map((k) => k + '=' + JSON.stringify(metric[k]));
    if (labels.length === 0) return name || '{}';
    return name + '{' + labels.join(', ') + '}';
  }

  function labelKey(metric) {
    return JSON.stringify(Object.keys(metric).filter((k) => k !== '__name__').sort()
      .map((k) => [k, metric[k]]));
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  function swatch(color) {
    const s = el('span', 'swatch');
    s.style.background = color;
    return s;
  }

  // ---- status, errors ----------------------------------------------------------------

  function showError(msg) {
    const box = $('error');
    box.textContent = msg || '';
    box.hidden = !msg;
  }

  function showWarnings(list) {
    const box = $('warnings');
    box.textContent = list.join('\n');
    box.hidden = list.length === 0;
  }

  function setStatus(text) {
    $('status').textContent = text;
  }

  // ---- the metric list ---------------------------------------------------------------

  async function loadMetrics() {
    try {
      const [meta, series] = await Promise.all([
        api('metadata'),
        api('series', { 'match[]': '{__name__=~".+"}' }),
      ]);
      const counts = new Map();
      for (const s of series.data) counts.set(s.__name__, (counts.get(s.__name__) || 0) + 1);
      const names = new Set([...counts.keys(), ...Object.keys(meta.data)]);
      state.metrics = [...names].sort().map((name) => {
        const m = (meta.data[name] || [])[0] || {};
        return {
          name,
          kind: m.type || 'unknown',
          unit: m.unit || '',
          help: m.help || '',
          series: counts.get(name) || 0,
        };
      });
      state.metricsLoaded = Date.now();
      renderMetrics();
    } catch (e) {
      $('metric-count').textContent = 'metric list: ' + e.message;
    }
  }

  function renderMetrics() {
    const terms = $('metric-filter').value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = state.metrics.filter((m) => {
      const hay = (m.name + ' ' + m.help + ' ' + m.unit + ' ' + m.kind).toLowerCase();
      return terms.every((t) => hay.includes(t));
    });
    const list = $('metric-list');
    list.replaceChildren();
    for (const m of shown) {
      const li = el('li', 'metric');
      li.dataset.name = m.name;
      li.tabIndex = 0;
      li.title = 'Chart ' + m.name;
      li.append(el('div', 'name', m.name));
      const facts = el('div', 'facts');
      facts.append(el('span', 'kind kind-' + m.kind, m.kind));
      if (m.unit) facts.append(el('span', 'unit', m.unit));
      facts.append(el('span', 'series-count', m.series + ' series'));
      li.append(facts);
      if (m.help) li.append(el('div', 'help', m.help));
      list.append(li);
    }
    $('metric-count').textContent = shown.length === state.metrics.length
      ? state.metrics.length + ' metrics'
      : shown.length + ' of ' + state.metrics.length + ' metrics';
  }

  function pickMetric(target) {
    const li = target.closest('li.metric');
    if (!li) return;
    $('expr').value = li.dataset.name;
    run();
  }

  // ---- the query -----------------------------------------------------------------------

  // A plain selector (a metric name and/or matchers, nothing else): the band view wraps it in
  // min/max/avg_over_time.
  const SELECTOR = /^\s*(?:[A-Za-z_:][A-Za-z0-9_:]*\s*(?:\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})?|\{(?:[^{}"]|"(?:[^"\\]|\\.)*")*\})\s*$/;
  function isSelector(expr) {
    return SELECTOR.test(expr) && !/^\s*(nan|inf)\s*$/i.test(expr);
  }

  function autoStep(range) {
    const want = range / TARGET_POINTS;
    for (const s of STEPS) if (s >= want) return s;
    return STEPS[STEPS.length - 1];
  }

  // The query's times: the end (now, or the picked time) and start on whole steps.
  function timeRange() {
    const range = parseInt($('range').value, 10);
    const stepText = $('step').value.trim();
    const step = stepText ? parseDuration(stepText) : autoStep(range);
    if (!(step > 0)) throw new ApiError('the step must be a duration such as 30s or 1m');
    const endText = $('end').value;
    const endMs = endText ? new Date(endText).getTime() : Date.now();
    if (!Number.isFinite(endMs)) throw new ApiError('the end time is not a time');
    const ms = (x) => Math.round(x * 1000) / 1000;
    const end = ms(Math.floor(endMs / 1000 / step) * step);
    const start = ms(end - Math.ceil(range / step) * step);
    return { start, end, step };
  }

  function saveHash() {
    const p = new URLSearchParams();
    p.set('expr', $('expr').value);
    p.set('range', $('range').value);
    if ($('end').value) p.set('end', $('end').value);
    if ($('step').value) p.set('step', $('step').value);
    p.set('view', $('view').value);
    p.set('refresh', $('refresh').value);
    history.replaceState(null, '', '#' + p.toString());
  }

  function loadHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const set = (id, v) => {
      if (v === null) return;
      const e = $(id);
      if (e.tagName === 'SELECT' && ![...e.options].some((o) => o.value === v)) return;
      e.value = v;
    };
    set('expr', p.get('expr'));
    set('range', p.get('range'));
    set('end', p.get('end'));
    set('step', p.get('step'));
    set('view', p.get('view'));
    set('refresh', p.get('refresh'));
  }

  async function run() {
    clearTimeout(state.timer);
    if (state.run) state.run.abort();
    state.run = null;
    const expr = $('expr').value.trim();
    saveHash();
    if (!expr) {
      showError('');
      schedule();
      return;
    }
    // Series hidden from the legend stay hidden over refreshes, not for another expression.
    if (expr !== state.expr) state.hidden.clear();
    state.expr = expr;
    const ctl = new AbortController();
    state.run = ctl;
    setStatus('running…');
    try {
      const { start, end, step } = timeRange();
      const view = $('view').value;
      const band = isSelector(expr) && (view === 'band' || (view === 'auto' && step >= BAND_FROM_STEP));
      if (view === 'band' && !isSelector(expr)) {
        throw new ApiError('the band view needs a plain selector (a metric name with optional {matchers})');
      }
      const params = (q) => ({ query: q, start: String(start), end: String(end), step: String(step) });
      let series;
      let warnings;
      let link;
      if (band) {
        const w = '[' + (Number.isInteger(step) ? fmtDuration(step) : Math.round(step * 1000) + 'ms') + ']';
        const qs = ['avg', 'min', 'max'].map((f) => f + '_over_time(' + expr + w + ')');
        const [avg, min, max] = await Promise.all(qs.map((q) => api('query_range', params(q), ctl.signal)));
        series = joinBands(expr, avg.data.result, min.data.result, max.data.result);
        warnings = [...new Set([...avg.warnings, ...min.warnings, ...max.warnings])];
        link = apiUrl('query_range', params(qs[0]));
      } else {
        const out = await api('query_range', params(expr), ctl.signal);
        series = out.data.result.map((s) => ({
          metric: s.metric,
          name: seriesName(s.metric),
          values: s.values,
        }));
        warnings = out.warnings;
        link = apiUrl('query_range', params(expr));
      }
      if (ctl.signal.aborted) return;
      showError('');
      showWarnings(warnings);
      state.last = { series, start, end, step, band };
      draw();
      renderTable();
      const summary = $('summary');
      summary.replaceChildren(document.createTextNode(
        series.length + ' series · ' + fmtTime(start)
        + ' – ' + fmtTime(end) + ' (' + Intl.DateTimeFormat().resolvedOptions().timeZone
        + ') · step ' + fmtDuration(step) + ' · ' + (band ? 'band: min–max with avg per step' : 'lines')));
      const a = el('a', null, 'API answer');
      a.id = 'api-link';
      a.href = link;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      summary.append(a);
      setStatus('updated ' + new Date().toLocaleTimeString());
    } catch (e) {
      if (e.name === 'AbortError') return;
      showError(e instanceof ApiError ? e.message : String(e));
      setStatus('failed ' + new Date().toLocaleTimeString());
    } finally {
      if (state.run === ctl) {
        state.run = null;
        schedule();
      }
    }
  }

  // The band view's series: the avg answer's, each with its min and max points by time.
  function joinBands(expr, avg, min, max) {
    const byKey = (list) => new Map(list.map((s) => [labelKey(s.metric), s.values]));
    const mins = byKey(min);
    const maxs = byKey(max);
    const m = /^\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(expr);
    return avg.map((s) => {
      const metric = Object.assign({}, s.metric);
      if (m && !metric.__name__) metric.__name__ = m[1];
      const key = labelKey(s.metric);
      const lo = new Map((mins.get(key) || []).map(([t, v]) => [t, v]));
      const hi = new Map((maxs.get(key) || []).map(([t, v]) => [t, v]));
      return {
        metric,
        name: seriesName(metric),
        values: s.values,
        band: s.values.map(([t]) => [lo.get(t), hi.get(t)]),
      };
    });
  }

  // ---- the chart -----------------------------------------------------------------------

  const M = { left: 64, right: 16, top: 12, bottom: 30 };

  function niceStep(span, count) {
    const raw = span / Math.max(count, 1);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const f of [1, 2, 2.5, 5, 10]) if (f * mag >= raw) return f * mag;
    return 10 * mag;
  }

  const TIME_TICKS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800, 1209600, 2592000];

  function timeTicks(start, end, count) {
    const want = (end - start) / Math.max(count, 1);
    const iv = TIME_TICKS.find((s) => s >= want) || TIME_TICKS[TIME_TICKS.length - 1];
    const ticks = [];
    // Aligned in local time: a tick every hour falls on the hour where the browser is.
    const off = -new Date(start * 1000).getTimezoneOffset() * 60;
    for (let t = Math.ceil((start + off) / iv) * iv - off; t <= end; t += iv) ticks.push(t);
    return { ticks, iv };
  }

  function tickFormat(iv, span) {
    const o = { hour: '2-digit', minute: '2-digit' };
    if (iv < 60) o.second = '2-digit';
    if (span > 86400) {
      o.month = 'short';
      o.day = 'numeric';
    }
    if (iv >= 86400) {
      delete o.hour;
      delete o.minute;
    }
    return new Intl.DateTimeFormat(undefined, o);
  }

  function draw() {
    const chart = $('chart');
    $('tooltip').hidden = true;
    chart.replaceChildren();
    const last = state.last;
    if (!last) {
      const t = svg('text', { class: 'nodata', x: '50%', y: '50%', 'text-anchor': 'middle' });
      t.textContent = 'Type a PromQL expression above, or pick a metric on the left.';
      chart.append(t);
      return;
    }
    const size = chart.getBoundingClientRect();
    const W = Math.round(size.width) || 800;
    const H = Math.round(size.height) || 340;
    chart.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    const pw = W - M.left - M.right;
    const ph = H - M.top - M.bottom;
    const { start, end } = last;
    const x = (t) => M.left + ((t - start) / Math.max(end - start, 1e-9)) * pw;

    let lo = Infinity;
    let hi = -Infinity;
    const seen = (v) => {
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    };
    for (const s of last.series) {
      if (state.hidden.has(s.name)) continue;
      for (const [, v] of s.values) seen(parseFloat(v));
      if (s.band) {
        for (const [a, b] of s.band) {
          seen(parseFloat(a));
          seen(parseFloat(b));
        }
      }
    }
    if (lo === Infinity) {
      lo = 0;
      hi = 1;
    } else if (lo === hi) {
      const pad = Math.abs(lo) * 0.1 || 1;
      lo -= pad;
      hi += pad;
    }
    const ys = niceStep(hi - lo, Math.max(2, Math.floor(ph / 50)));
    lo = Math.floor(lo / ys) * ys;
    hi = Math.ceil(hi / ys) * ys;
    const y = (v) => M.top + ph - ((v - lo) / (hi - lo)) * ph;

    const axes = svg('g', { class: 'axis' });
    for (let v = lo, k = 0; v <= hi + ys / 2 && k < 100; v = lo + (++k) * ys) {
      const yy = Math.round(y(v)) + 0.5;
      axes.append(svg('line', { class: 'grid', x1: M.left, x2: W - M.right, y1: yy, y2: yy }));
      const t = svg('text', { x: M.left - 6, y: yy + 4, 'text-anchor': 'end' });
      t.textContent = fmtNum(Math.abs(v) < ys / 1e6 ? 0 : v);
      axes.append(t);
    }
    const { ticks, iv } = timeTicks(start, end, Math.max(2, Math.floor(pw / 90)));
    const tf = tickFormat(iv, end - start);
    for (const tt of ticks) {
      const xx = Math.round(x(tt)) + 0.5;
      axes.append(svg('line', { class: 'grid', x1: xx, x2: xx, y1: M.top, y2: M.top + ph }));
      const t = svg('text', { x: xx, y: H - 10, 'text-anchor': 'middle' });
      t.textContent = tf.format(new Date(tt * 1000));
      axes.append(t);
    }
    chart.append(axes);

    if (last.series.length === 0) {
      const t = svg('text', { class: 'nodata', x: M.left + pw / 2, y: M.top + ph / 2, 'text-anchor': 'middle' });
      t.textContent = 'no data in this range';
      chart.append(t);
    }

    // A gap longer than 1.5 steps, or a value that is not finite, breaks a line.
    const gap = last.step * 1.5;
    last.series.forEach((s, i) => {
      const color = PALETTE[i % PALETTE.length];
      s.color = color;
      const g = svg('g', { class: 'series', 'data-series': s.name });
      if (state.hidden.has(s.name)) g.setAttribute('display', 'none');
      if (s.band) {
        let d = '';
        let seg = [];
        const flush = () => {
          if (seg.length === 0) return;
          d += 'M' + seg.map(([t, , b]) => x(t).toFixed(1) + ',' + y(b).toFixed(1)).join('L');
          d += 'L' + seg.slice().reverse().map(([t, a]) => x(t).toFixed(1) + ',' + y(a).toFixed(1)).join('L') + 'Z';
          seg = [];
        };
        let prev = null;
        s.values.forEach(([t], k) => {
          const a = parseFloat(s.band[k][0]);
          const b = parseFloat(s.band[k][1]);
          if (!Number.isFinite(a) || !Number.isFinite(b)) {
            flush();
            prev = null;
            return;
          }
          if (prev !== null && t - prev > gap) flush();
          seg.push([t, a, b]);
          prev = t;
        });
        flush();
        g.append(svg('path', { class: 'series-band', d: d || 'M0,0', fill: color }));
      }
      let d = '';
      let prev = null;
      for (const [t, vs] of s.values) {
        const v = parseFloat(vs);
        if (!Number.isFinite(v)) {
          prev = null;
          continue;
        }
        const cmd = prev === null || t - prev > gap ? 'M' : 'L';
        d += cmd + x(t).toFixed(1) + ',' + y(v).toFixed(1);
        // A lone point is drawn as a dot (a zero-length segment with round caps).
        if (cmd === 'M') d += 'l0,0';
        prev = t;
      }
      g.append(svg('path', { class: 'series-line', d: d || 'M0,0', stroke: color }));
      chart.append(g);
    });
    chart.append(svg('line', { class: 'cursor', x1: 0, x2: 0, y1: M.top, y2: M.top + ph, visibility: 'hidden' }));
    renderLegend();
  }

  function renderLegend() {
    const legend = $('legend');
    legend.replaceChildren();
    for (const s of state.last.series) {
      const li = el('li', state.hidden.has(s.name) ? 'off' : '');
      li.dataset.series = s.name;
      li.title = 'Show or hide';
      li.append(swatch(s.color), el('span', null, s.name));
      legend.append(li);
    }
  }

  function toggleSeries(target) {
    const li = target.closest('li[data-series]');
    if (!li) return;
    const name = li.dataset.series;
    if (state.hidden.has(name)) state.hidden.delete(name);
    else state.hidden.add(name);
    draw();
  }

  // The point of each series nearest the pointer's time.
  function hover(ev) {
    const last = state.last;
    const tip = $('tooltip');
    const chart = $('chart');
    const cursor = chart.querySelector('.cursor');
    if (!last || last.series.length === 0 || !cursor) return;
    const box = chart.getBoundingClientRect();
    const W = box.width;
    const pw = W - M.left - M.right;
    const px = ev.clientX - box.left;
    if (px < M.left || px > W - M.right) {
      leave();
      return;
    }
    const t = last.start + ((px - M.left) / pw) * (last.end - last.start);
    const at = last.start + Math.round((t - last.start) / last.step) * last.step;
    const rows = [];
    for (const s of last.series) {
      if (state.hidden.has(s.name)) continue;
      const k = s.values.findIndex(([tt]) => tt === at);
      if (k < 0) continue;
      let v = s.values[k][1];
      if (s.band) v += '  (' + s.band[k][0] + ' – ' + s.band[k][1] + ')';
      rows.push([s, v]);
    }
    const xx = M.left + ((at - last.start) / (last.end - last.start)) * pw;
    cursor.setAttribute('x1', xx);
    cursor.setAttribute('x2', xx);
    cursor.setAttribute('visibility', 'visible');
    tip.replaceChildren(el('div', 't', fmtTime(at)));
    for (const [s, v] of rows.slice(0, 20)) {
      const r = el('div', 'row');
      r.append(swatch(s.color), el('span', null, v + '  ' + s.name));
      tip.append(r);
    }
    if (rows.length === 0) tip.append(el('div', 'row', 'no points'));
    tip.hidden = false;
    const left = xx + 12 + tip.offsetWidth > W ? xx - 12 - tip.offsetWidth : xx + 12;
    tip.style.left = Math.max(0, left) + 'px';
    tip.style.top = (M.top + 4) + 'px';
  }

  function leave() {
    $('tooltip').hidden = true;
    const cursor = $('chart').querySelector('.cursor');
    if (cursor) cursor.setAttribute('visibility', 'hidden');
  }

  // ---- the table -----------------------------------------------------------------------

  // One row per series: its last point (value as the API wrote it, and time), the least and
  // greatest values over the range (of the mins and maxes in the band view), the count.
  function renderTable() {
    const table = $('result-table');
    table.querySelector('th.last').textContent = state.last.band ? 'Last avg' : 'Last';
    const body = table.tBodies[0];
    body.replaceChildren();
    for (const s of state.last.series) {
      const tr = el('tr');
      const name = el('td', 'series');
      name.append(swatch(s.color), document.createTextNode(s.name));
      tr.append(name);
      const lastPoint = s.values[s.values.length - 1];
      let min = null;
      let max = null;
      const consider = (vs) => {
        const v = parseFloat(vs);
        if (Number.isNaN(v)) return;
        if (min === null || v < parseFloat(min)) min = vs;
        if (max === null || v > parseFloat(max)) max = vs;
      };
      if (s.band) {
        for (const [a, b] of s.band) {
          if (a !== undefined) consider(a);
          if (b !== undefined) consider(b);
        }
      } else {
        for (const [, v] of s.values) consider(v);
      }
      tr.append(
        el('td', 'num last', lastPoint ? lastPoint[1] : ''),
        el('td', 'num min', min === null ? '' : min),
        el('td', 'num max', max === null ? '' : max),
        el('td', 'num at', lastPoint ? fmtTime(lastPoint[0]) : ''),
        el('td', 'num points', String(s.values.length)),
      );
      body.append(tr);
    }
    if (state.last.series.length === 0) {
      const tr = el('tr', 'empty');
      const td = el('td', 'muted', 'No series.');
      td.colSpan = 6;
      tr.append(td);
      body.append(tr);
    }
  }

  // ---- auto-refresh --------------------------------------------------------------------

  // The next run, when auto-refresh is on and the range ends now; a hidden tab waits.
  function schedule() {
    clearTimeout(state.timer);
    const every = parseInt($('refresh').value, 10);
    if (!every || $('end').value) return;
    state.timer = setTimeout(() => {
      if (document.hidden) {
        schedule();
        return;
      }
      if (Date.now() - state.metricsLoaded >= METRICS_EVERY_MS) loadMetrics();
      run();
    }, every * 1000);
  }

  // ---- wiring --------------------------------------------------------------------------

  function init() {
    loadHash();
    $('query-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      run();
    });
    for (const id of ['range', 'view']) $(id).addEventListener('change', run);
    $('end').addEventListener('change', run);
    $('end-now').addEventListener('click', () => {
      $('end').value = '';
      run();
    });
    $('refresh').addEventListener('change', () => {
      saveHash();
      schedule();
    });
    $('metric-filter').addEventListener('input', renderMetrics);
    $('metrics-reload').addEventListener('click', loadMetrics);
    $('metric-list').addEventListener('click', (ev) => pickMetric(ev.target));
    $('metric-list').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') pickMetric(ev.target);
    });
    $('legend').addEventListener('click', (ev) => toggleSeries(ev.target));
    $('chart').addEventListener('mousemove', hover);
    $('chart').addEventListener('mouseleave', leave);
    let resize = null;
    window.addEventListener('resize', () => {
      clearTimeout(resize);
      resize = setTimeout(draw, 150);
    });
    loadMetrics();
    draw();
    if ($('expr').value.trim()) run();
    else schedule();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
}());
