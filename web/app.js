/*
 * app.js - the sweepq dashboard: plain JavaScript, no build step.
 *
 * Reads the JSON API of `sweepq serve` (api-contract.md) with the token taken
 * from the URL fragment (#token=...), kept in sessionStorage and sent as
 * "Authorization: Bearer" (EventSource cannot send that header, so the page
 * polls: every POLL_MS it reloads what the current view shows).
 *
 * Views, chosen by the fragment:
 *   #/                      sweeps with progress, agents with their GPUs
 *   #/sweep/NAME            one sweep: parallel coordinates, every trial's
 *                           curve of the metric by step, trial table
 *   #/sweep/NAME/trial/N    the same with trial N's metric curves and log
 *
 * Invariants: every value from the server reaches the page as text
 * (textContent, never innerHTML); one poll runs at a time (the next one is
 * scheduled when the last has finished); the views keep the user's sort,
 * filter, search and selection across polls. uPlot (web/vendor/uplot) draws
 * the metric curves; the parallel coordinates are drawn here on a canvas.
 */
'use strict';

const POLL_MS = 2000;
const MAX_ROWS = 2000; /* table rows drawn; the rest are a sort or filter away */
const TOKEN_KEY = 'sweepq.token';
const STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'stopped'];
const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'stopped']);
const OVERLAY_MAX = 300; /* trials overlaid: the latest started ones */

const $ = (sel) => document.querySelector(sel);

const app = {
    token: null,
    clockSkew: 0, /* server time minus local time, seconds */
    polls: 0,
    timer: null,
    route: { view: 'home' },
    sweep: null,       /* the sweep shown by the sweep view */
    trials: [],        /* its trials */
    sort: { key: 'number', desc: false },
    selected: null,    /* trial number */
    curves: { trialId: null, key: '', plots: [] },
    log: { trialId: null, attempt: 0, text: null },
    logChoice: 0,      /* the attempt whose log is shown; 0: the latest */
    pcLines: [],       /* the drawn parallel-coordinates lines, for hovering */
    /* every trial's curve of the metric: the rows of each trial's latest
     * attempt by trial id (a final trial's are fetched once), the chart */
    overlay: { cache: new Map(), key: '', plot: null, sweep: null },
};

/* ---- small helpers -------------------------------------------------- */

function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
        if (k === 'class') e.className = v;
        else if (k === 'dataset') Object.assign(e.dataset, v);
        else if (k === 'style') e.style.cssText = v; /* CSSOM: allowed by a strict CSP */
        else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
        else e.setAttribute(k, v);
    }
    for (const c of children) {
        if (c === null || c === undefined) continue;
        e.append(c instanceof Node ? c : String(c));
    }
    return e;
}

function parseJson(text, fallback) {
    if (text === null || text === undefined || text === '') return fallback;
    try { return JSON.parse(text); } catch (e) { return fallback; }
}

function serverNow() { return Date.now() / 1000 + app.clockSkew; }

function ago(t) {
    if (!t) return '';
    const s = Math.max(0, serverNow() - t);
    if (s < 60) return `${Math.round(s)} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
}

function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '';
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function fmtNum(v) {
    if (typeof v !== 'number') return v === null || v === undefined ? '' : String(v);
    if (Number.isInteger(v)) return String(v);
    return String(Number(v.toPrecision(5))); /* 0.0001, 0.49819, 1e-7 */
}

/* A parameter as the user wrote it: numbers in full, lists as JSON. */
function paramText(v) {
    if (v === undefined || v === null) return '';
    return typeof v === 'string' ? v : JSON.stringify(v);
}

function bytes(n) {
    if (typeof n !== 'number') return '?';
    const gib = n / 2 ** 30;
    if (gib < 1) return `${Math.round(n / 2 ** 20)} MiB`;
    return gib >= 10 ? `${Math.round(gib)} GiB` : `${gib.toFixed(1)} GiB`;
}

/* ---- token and API -------------------------------------------------- */

/* Takes #token=... (alone or after the route, "#/sweep/x&token=...") out of
 * the fragment so it does not stay in the address bar or the history. */
function takeTokenFromFragment() {
    const h = location.hash;
    const m = /[#&]token=([^&]*)/.exec(h);
    if (m) {
        sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
        let rest = h.replace(/[#&]token=[^&]*/, '').replace(/^&/, '');
        if (!rest.startsWith('#')) rest = '#' + rest;
        history.replaceState(null, '', location.pathname + location.search +
                             (rest === '#' ? '#/' : rest));
    }
    app.token = sessionStorage.getItem(TOKEN_KEY);
}

class ApiError extends Error {
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}

/* GETs PATH (under /api/v1); resolves to parsed JSON, or to text when
 * asText; rejects with an ApiError carrying the server's message. */
async function api(path, asText) {
    const headers = {};
    if (app.token) headers.Authorization = 'Bearer ' + app.token;
    let r;
    try {
        r = await fetch('/api/v1' + path, { headers, cache: 'no-store' });
    } catch (e) {
        throw new ApiError(0, 'EIO', 'cannot reach the server: ' + e.message);
    }
    const body = await r.text();
    if (!r.ok) {
        const err = parseJson(body, null);
        const e = err && err.error ? err.error : { code: 'ERROR', message: body || r.statusText };
        throw new ApiError(r.status, e.code, e.message);
    }
    return asText ? body : JSON.parse(body);
}

function showTokenForm(message) {
    $('#token-form').classList.remove('hidden');
    for (const v of ['#home-view', '#sweep-view']) $(v).classList.add('hidden');
    setLive(false, message);
}

/* ---- routing and polling -------------------------------------------- */

function parseRoute() {
    const h = location.hash.replace(/^#\/?/, '');
    let parts;
    try {
        parts = h.split('/').map(decodeURIComponent);
    } catch (e) { /* a malformed %-escape: show the home view */
        return { view: 'home' };
    }
    if (parts[0] === 'sweep' && parts[1]) {
        const trial = parts[2] === 'trial' && /^\d+$/.test(parts[3]) ? Number(parts[3]) : null;
        return { view: 'sweep', name: parts[1], trial };
    }
    return { view: 'home' };
}

function sweepHash(name, trial) {
    let h = '#/sweep/' + encodeURIComponent(name);
    if (trial !== null && trial !== undefined) h += '/trial/' + trial;
    return h;
}

function onRoute() {
    const r = parseRoute();
    const changedSweep = r.view !== app.route.view || r.name !== app.route.name;
    app.route = r;
    if (changedSweep) {
        app.sweep = null;
        app.trials = [];
        app.sort = { key: 'number', desc: false };
        $('#state-filter').value = '';
        $('#param-search').value = '';
        clearDetail();
    }
    app.selected = r.view === 'sweep' ? r.trial : null;
    showView();
    renderCrumbs();
    if (!changedSweep && r.view === 'sweep') renderSweep();
    pollNow();
}

/* Shows the view of the route (the token form hides both). */
function showView() {
    $('#home-view').classList.toggle('hidden', app.route.view !== 'home');
    $('#sweep-view').classList.toggle('hidden', app.route.view !== 'sweep');
}

function pollNow() {
    clearTimeout(app.timer);
    app.timer = null;
    if (app.polling) {
        app.pollAgain = true;
        return;
    }
    poll();
}

/* Polls every POLL_MS, or five times as long as the last poll took when
 * that is longer (a large sweep on a busy server is not hammered). */
async function poll() {
    app.polling = true;
    const began = performance.now();
    try {
        const t = await api('/time');
        app.clockSkew = t.now - Date.now() / 1000;
        if (app.route.view === 'home') await pollHome();
        else await pollSweep();
        app.polls++;
        document.body.dataset.polls = app.polls;
        if (!$('#token-form').classList.contains('hidden')) {
            $('#token-form').classList.add('hidden');
            showView();
        }
        $('#error').classList.add('hidden');
        setLive(true, 'updated ' + new Date().toLocaleTimeString());
    } catch (e) {
        if (e.status === 401 || e.status === 403) {
            showTokenForm(app.token ? 'token refused' : 'no token');
        } else if (e.status === 404) { /* e.g. a sweep that gc removed */
            showError(e.message);
            setLive(true, 'updated ' + new Date().toLocaleTimeString());
        } else {
            showError(e.message);
            setLive(false, 'offline, retrying');
        }
    } finally {
        app.polling = false;
        const again = app.pollAgain;
        app.pollAgain = false;
        const took = performance.now() - began;
        app.timer = setTimeout(poll, again ? 0 : Math.max(POLL_MS, 5 * took));
    }
}

function setLive(ok, text) {
    $('#live').classList.toggle('ok', ok);
    $('#live').classList.toggle('bad', !ok);
    $('#live-text').textContent = text;
}

function showError(msg) {
    const e = $('#error');
    e.textContent = msg;
    e.classList.remove('hidden');
}

function renderCrumbs() {
    const c = $('#crumbs');
    c.replaceChildren();
    if (app.route.view === 'sweep') {
        c.append(el('a', { href: '#/' }, 'sweeps'), ' / ',
                 el('a', { href: sweepHash(app.route.name) }, app.route.name));
        if (app.selected !== null) c.append(' / ', `trial ${app.selected}`);
    }
}

/* ---- home: sweeps and agents ---------------------------------------- */

function countsOf(s) {
    const c = s.counts || {};
    const n = (k) => c[k] || 0;
    const total = Math.max(s.total || 0, STATES.reduce((a, k) => a + n(k), 0));
    const done = n('succeeded') + n('failed') + n('cancelled') + n('stopped');
    return { n, total, done };
}

/* A stacked bar: succeeded, failed, cancelled, running, then the rest. */
function progressBar(s, cls) {
    const { n, total, done } = countsOf(s);
    const bar = el('div', { class: 'progress ' + (cls || ''), title: `${done} of ${total} done` });
    for (const k of ['succeeded', 'stopped', 'failed', 'cancelled', 'running']) {
        if (!n(k) || !total) continue;
        bar.append(el('div', { class: 'seg ' + k, style: `width:${(100 * n(k)) / total}%` }));
    }
    bar.append(el('span', { class: 'label' }, el('span', {}, `${done} / ${total}`)));
    return bar;
}

async function pollHome() {
    const [sw, ag] = await Promise.all([api('/sweeps'), api('/agents')]);
    const sweeps = sw.sweeps.slice().sort((a, b) => b.created_at - a.created_at);
    const body = $('#sweeps tbody');
    body.replaceChildren(...sweeps.map((s) => {
        const { n } = countsOf(s);
        const metric = s.metric_name ? `${s.metric_name} (${s.maximize ? 'max' : 'min'})` : '';
        return el('tr', { dataset: { name: s.name }, class: 'link',
                          onclick: () => { location.hash = sweepHash(s.name); } },
            el('td', {}, el('a', { href: sweepHash(s.name) }, s.name)),
            el('td', {}, el('span', { class: 'badge ' + s.state }, s.state)),
            el('td', { class: 'wide' }, progressBar(s)),
            el('td', { class: 'num' }, n('pending')), el('td', { class: 'num' }, n('running')),
            el('td', { class: 'num' }, n('succeeded')), el('td', { class: 'num' }, n('failed')),
            el('td', {}, metric), el('td', { class: 'muted' }, ago(s.updated_at)));
    }));
    $('#sweep-count').textContent = `(${sweeps.length})`;
    $('#no-sweeps').classList.toggle('hidden', sweeps.length > 0);
    renderAgents(ag.agents);
}

function gpuList(gpusJson) {
    const g = parseJson(gpusJson, null);
    if (!g || !Array.isArray(g.gpus) || g.gpus.length === 0) return el('span', { class: 'muted' }, 'none');
    const ul = el('ul', { class: 'gpus' });
    for (const d of g.gpus) {
        const used = typeof d.memory_used === 'number' && typeof d.memory_total === 'number'
            ? `${bytes(d.memory_used)} of ${bytes(d.memory_total)}` : bytes(d.memory_total);
        const util = typeof d.utilization === 'number' ? `, ${d.utilization}%` : '';
        ul.append(el('li', { title: d.uuid || '' }, `${d.index}: ${d.name || 'GPU'} (${used}${util})`));
    }
    return ul;
}

function renderAgents(agents) {
    agents = agents.slice().sort((a, b) => (b.alive - a.alive) || (b.last_seen - a.last_seen));
    $('#agents tbody').replaceChildren(...agents.map((a) => el('tr', { dataset: { id: a.id } },
        el('td', { title: a.id }, a.host), el('td', { class: 'num' }, a.pid),
        el('td', { class: 'num' }, a.slots), el('td', { class: 'num' }, a.running),
        el('td', {}, ago(a.last_seen)),
        el('td', {}, el('span', { class: 'badge ' + (a.alive ? 'running' : 'cancelled') },
                        a.alive ? 'alive' : 'gone')),
        el('td', {}, gpuList(a.gpus_json)), el('td', { class: 'muted' }, a.version))));
    const alive = agents.filter((a) => a.alive).length;
    $('#agent-count').textContent = `(${alive} alive of ${agents.length})`;
    $('#no-agents').classList.toggle('hidden', agents.length > 0);
}

/* ---- sweep view ----------------------------------------------------- */

async function pollSweep() {
    const name = encodeURIComponent(app.route.name);
    const [s, t] = await Promise.all([api('/sweeps/' + name), api('/sweeps/' + name + '/trials')]);
    if (app.route.view !== 'sweep' || s.name !== app.route.name) return; /* navigated away */
    app.sweep = s;
    app.trials = t.trials.map((tr) => ({
        ...tr,
        params: parseJson(tr.params_json, {}),
        metrics: parseJson(tr.metrics_json, {}),
    }));
    renderSweep();
    await pollOverlay();
    await pollDetail();
}

function metricName() {
    const s = app.sweep;
    if (s && s.metric_name) return s.metric_name;
    for (const t of app.trials) {
        const k = Object.keys(t.metrics)[0];
        if (k) return k;
    }
    return null;
}

function paramNames() {
    const names = [];
    for (const t of app.trials)
        for (const k of Object.keys(t.params)) if (!names.includes(k)) names.push(k);
    return names;
}

function metricOf(t) {
    const m = metricName();
    const v = m ? t.metrics[m] : undefined;
    return typeof v === 'number' && isFinite(v) ? v : null;
}

function runtime(t) {
    if (!t.started_at) return null;
    const end = t.finished_at || (t.state === 'running' ? serverNow() : null);
    return end ? end - t.started_at : null;
}

/* The table's columns: key, header, value (for sorting), text. */
function columns() {
    const m = metricName();
    const cols = [
        { key: 'number', head: '#', value: (t) => t.number, num: true },
        { key: 'state', head: 'state', value: (t) => t.state,
          cell: (t) => el('span', { class: 'badge ' + t.state },
                          t.state === 'stopped' && t.stopped_step ? `stopped@${t.stopped_step}` : t.state) },
    ];
    for (const p of paramNames()) {
        const num = app.trials.every((t) => t.params[p] === undefined || typeof t.params[p] === 'number');
        cols.push({ key: 'p:' + p, head: p, value: (t) => t.params[p], num, param: true });
    }
    if (m) cols.push({ key: 'metric', head: m, value: metricOf, num: true, metric: true });
    cols.push({ key: 'attempt', head: 'attempt', value: (t) => t.attempt, num: true },
              { key: 'agent', head: 'agent', value: (t) => t.agent_id || '' },
              { key: 'runtime', head: 'runtime', value: runtime, num: true, fmt: duration },
              { key: 'started', head: 'started', value: (t) => t.started_at || null,
                fmt: (v) => (v ? ago(v) : '') });
    return cols;
}

function compare(a, b) {
    const na = a === null || a === undefined, nb = b === null || b === undefined;
    if (na || nb) return na && nb ? 0 : na ? 1 : -1; /* empty cells last */
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return paramText(a).localeCompare(paramText(b), undefined, { numeric: true });
}

/* Space-separated terms, each a substring of one "name=value" pair. */
function matchesSearch(t, terms) {
    if (!terms.length) return true;
    const pairs = Object.entries(t.params).map(([k, v]) => `${k}=${paramText(v)}`.toLowerCase());
    return terms.every((term) => pairs.some((p) => p.includes(term)));
}

function visibleTrials() {
    const state = $('#state-filter').value;
    const terms = $('#param-search').value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    return app.trials.filter((t) => (!state || t.state === state) && matchesSearch(t, terms));
}

function renderSweep() {
    const s = app.sweep;
    if (!s) return;
    const { n, total, done } = countsOf(s);
    $('#sweep-title').replaceChildren(s.name, ' ',
        el('span', { class: 'badge ' + s.state }, s.state));
    $('.sweep-head .progress').replaceWith(progressBar(s, 'big'));
    $('#sweep-counts').replaceChildren(...STATES.map((k) =>
        el('span', { class: 'count ' + k, dataset: { state: k } },
           el('b', {}, n(k)), ' ' + k)),
        el('span', { class: 'count', dataset: { state: 'done' } }, el('b', {}, done), ` of ${total} done`));
    const meta = [];
    if (s.metric_name) meta.push(`metric ${s.metric_name} (${s.maximize ? 'maximize' : 'minimize'})`);
    if (s.tags && s.tags.length) meta.push('tags ' + s.tags.join(', '));
    meta.push('created ' + ago(s.created_at));
    if (s.finished_at) meta.push('finished ' + ago(s.finished_at));
    $('#sweep-meta').textContent = meta.join(' · ');
    renderTable();
    drawParcoords();
}

function renderTable() {
    const cols = columns();
    const head = $('#trials thead tr');
    head.replaceChildren(...cols.map((c) => el('th', {
        class: (c.num ? 'num ' : '') + (app.sort.key === c.key ? (app.sort.desc ? 'desc' : 'asc') : ''),
        dataset: { key: c.key }, title: 'sort by ' + c.head,
        onclick: () => {
            app.sort = { key: c.key, desc: app.sort.key === c.key ? !app.sort.desc : false };
            renderTable();
        },
    }, c.head)));

    const col = cols.find((c) => c.key === app.sort.key) || cols[0];
    const rows = visibleTrials().sort((a, b) => {
        const r = compare(col.value(a), col.value(b));
        const nulls = col.value(a) === null || col.value(a) === undefined ||
                      col.value(b) === null || col.value(b) === undefined;
        return (app.sort.desc && !nulls ? -r : r) || a.number - b.number;
    });
    const best = bestTrial();
    $('#trials tbody').replaceChildren(...rows.slice(0, MAX_ROWS).map((t) => {
        const tr = el('tr', {
            dataset: { number: t.number, state: t.state },
            class: 'link' + (t.number === app.selected ? ' selected' : '') +
                   (best && t.number === best.number ? ' best' : ''),
            onclick: () => { location.hash = sweepHash(app.sweep.name, t.number); },
        });
        for (const c of cols) {
            const v = c.value(t);
            const td = el('td', { class: c.num ? 'num' : '' });
            if (c.cell) td.append(c.cell(t));
            else td.textContent = c.fmt ? c.fmt(v) : c.param ? paramText(v) : fmtNum(v);
            tr.append(td);
        }
        return tr;
    }));
    let count = rows.length === app.trials.length
        ? `(${rows.length})` : `(${rows.length} of ${app.trials.length})`;
    if (rows.length > MAX_ROWS) count += `, the first ${MAX_ROWS} shown`;
    $('#trial-count').textContent = count;
}

/* The succeeded trial with the best metric, or null. */
function bestTrial() {
    let best = null;
    for (const t of app.trials) {
        const v = metricOf(t);
        if (v === null || t.state !== 'succeeded') continue;
        if (!best || (app.sweep.maximize ? v > metricOf(best) : v < metricOf(best))) best = t;
    }
    return best;
}

/* ---- parallel coordinates ------------------------------------------- */

/* One axis per parameter, then the metric. Numbers get a linear scale (a
 * log one when positive and spanning more than two decades); anything else
 * is categorical, its values spread evenly in the order first seen. */
function makeAxis(name, values, isMetric) {
    const present = values.filter((v) => v !== null && v !== undefined);
    const numeric = present.length > 0 && present.every((v) => typeof v === 'number' && isFinite(v));
    if (numeric) {
        let lo = Math.min(...present), hi = Math.max(...present);
        const log = !isMetric && lo > 0 && hi / lo > 100;
        const f = log ? Math.log10 : (x) => x;
        let a = f(lo), b = f(hi);
        if (a === b) { a -= 1; b += 1; } /* one value: drawn in the middle */
        const ticks = [lo, hi];
        if (log) /* each power of ten in between */
            for (let e = Math.ceil(a + 1e-9); e < b - 1e-9; e++) ticks.push(10 ** e);
        else if (lo !== hi)
            ticks.push((lo + hi) / 2);
        return { name, isMetric, numeric: true, log, lo, hi, ticks: [...new Set(ticks)],
                 pos: (v) => (typeof v === 'number' ? (f(v) - a) / (b - a) : null) };
    }
    const cats = [];
    for (const v of present) {
        const k = typeof v === 'string' ? v : JSON.stringify(v);
        if (!cats.includes(k)) cats.push(k);
    }
    cats.sort((x, y) => compare(x, y));
    return { name, isMetric, numeric: false, cats,
             pos: (v) => {
                 if (v === null || v === undefined) return null;
                 const i = cats.indexOf(typeof v === 'string' ? v : JSON.stringify(v));
                 return cats.length === 1 ? 0.5 : i / (cats.length - 1);
             } };
}

/* viridis, sampled: t in [0, 1] -> CSS colour */
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function viridis(t) {
    t = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
    const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
    const c = VIRIDIS[i].map((x, j) => Math.round(x + (VIRIDIS[i + 1][j] - x) * f));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function drawParcoords() {
    const canvas = $('#parcoords');
    const m = metricName();
    const scored = app.trials.filter((t) => metricOf(t) !== null);
    $('#pc-metric').textContent = m || 'the metric';
    $('#pc-empty').classList.toggle('hidden', scored.length > 0);
    canvas.classList.toggle('hidden', scored.length === 0);
    canvas.dataset.lines = 0;
    app.pcLines = [];
    if (!scored.length) return;

    const names = paramNames();
    const axes = names.map((p) => makeAxis(p, scored.map((t) => t.params[p]), false));
    axes.push(makeAxis(m, scored.map(metricOf), true));

    const cssW = canvas.parentElement.clientWidth - 2, cssH = 300;
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = cssW + 'px';
    canvas.style.height = cssH + 'px';
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);

    const padX = 60, top = 34, bottom = cssH - 28;
    const x = (i) => axes.length === 1 ? cssW / 2 : padX + (i * (cssW - 2 * padX)) / (axes.length - 1);
    const y = (p) => bottom - p * (bottom - top);
    const mAxis = axes[axes.length - 1];
    const shade = (v) => {
        const p = mAxis.pos(v);
        return viridis(app.sweep.maximize ? p : 1 - p); /* best is yellow */
    };
    const visible = new Set(visibleTrials().map((t) => t.number));

    const points = (t) => axes.map((a, i) => {
        const p = a.pos(a.isMetric ? metricOf(t) : t.params[a.name]);
        return p === null ? null : [x(i), y(p)];
    });
    const line = (t) => {
        g.beginPath();
        let started = false;
        for (const pt of points(t)) {
            if (!pt) { started = false; continue; }
            if (started) g.lineTo(pt[0], pt[1]);
            else g.moveTo(pt[0], pt[1]);
            started = true;
        }
        g.stroke();
    };
    /* trials hidden by the filter faint underneath, the others in colour,
     * best on top, the selected trial last and thick */
    const order = scored.slice().sort((a, b) => (app.sweep.maximize ? 1 : -1) * (metricOf(a) - metricOf(b)));
    g.lineWidth = 1;
    g.strokeStyle = 'rgba(150,150,150,0.25)';
    for (const t of order) if (!visible.has(t.number)) line(t);
    g.lineWidth = 1.6;
    let drawn = 0;
    app.pcLines = [];
    for (const t of order) {
        if (!visible.has(t.number)) continue;
        app.pcLines.push({ trial: t, pts: points(t) });
        g.strokeStyle = shade(metricOf(t));
        g.globalAlpha = 0.85;
        line(t);
        drawn++;
    }
    g.globalAlpha = 1;
    const sel = scored.find((t) => t.number === app.selected);
    if (sel) {
        g.lineWidth = 3.5;
        g.strokeStyle = '#d9480f';
        line(sel);
    }

    /* axes with their ranges or categories */
    g.font = '12px system-ui, sans-serif';
    g.textAlign = 'center';
    axes.forEach((a, i) => {
        g.strokeStyle = '#555';
        g.lineWidth = 1;
        g.beginPath();
        g.moveTo(x(i), top);
        g.lineTo(x(i), bottom);
        g.stroke();
        g.fillStyle = '#222';
        g.font = (a.isMetric ? 'bold ' : '') + '12px system-ui, sans-serif';
        g.fillText(a.name + (a.log ? ' (log)' : ''), x(i), top - 16);
        g.font = '11px system-ui, sans-serif';
        g.fillStyle = '#444';
        const label = (text, p) => {
            const w = g.measureText(text).width + 6;
            g.fillStyle = 'rgba(255,255,255,0.8)';
            g.fillRect(x(i) + 4, y(p) - 7, w, 14);
            g.fillStyle = '#333';
            g.textAlign = 'left';
            g.fillText(text, x(i) + 7, y(p) + 4);
            g.textAlign = 'center';
        };
        if (a.numeric) {
            for (const v of a.ticks) label(fmtNum(v), a.pos(v));
        } else {
            a.cats.forEach((c) => label(c.length > 14 ? c.slice(0, 13) + '…' : c, a.pos(c)));
        }
    });
    canvas.dataset.lines = drawn;
}

/* The drawn line nearest to (px, py) within 6 pixels, or null; the best
 * trials are drawn last, so they win ties. */
function pcLineAt(px, py) {
    let best = null, bestD = 6;
    for (const l of app.pcLines) {
        for (let i = 1; i < l.pts.length; i++) {
            const a = l.pts[i - 1], b = l.pts[i];
            if (!a || !b) continue;
            const dx = b[0] - a[0], dy = b[1] - a[1];
            const f = Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / (dx * dx + dy * dy || 1)));
            const d = Math.hypot(px - (a[0] + f * dx), py - (a[1] + f * dy));
            if (d <= bestD) { bestD = d; best = l; }
        }
    }
    return best;
}

function pcHover(ev) {
    const canvas = $('#parcoords'), tip = $('#pc-tip');
    const r = canvas.getBoundingClientRect();
    const l = pcLineAt(ev.clientX - r.left, ev.clientY - r.top);
    tip.classList.toggle('hidden', !l);
    if (!l) return null;
    const t = l.trial, m = metricName();
    tip.textContent = `trial ${t.number}: ` +
        Object.entries(t.params).map(([k, v]) => `${k}=${paramText(v)}`).join(' ') +
        ` → ${m}=${fmtNum(metricOf(t))}`;
    tip.style.left = Math.min(ev.clientX - r.left + 12, r.width - tip.offsetWidth) + 'px';
    tip.style.top = (ev.clientY - r.top + 14) + 'px';
    return l;
}

/* ---- every trial's curve of the metric -------------------------------- */

/*
 * Fetches the metric rows of the trials that started (the latest
 * OVERLAY_MAX), once for a trial that is final and at every poll for one
 * that runs, then draws them on one chart.
 */
async function pollOverlay() {
    const m = metricName();
    const ov = app.overlay;
    if (ov.sweep !== app.sweep.name) {
        ov.cache = new Map();
        ov.sweep = app.sweep.name;
    }
    $('#overlay-metric').textContent = m || 'The metric';
    const started = app.trials.filter((t) => t.state !== 'pending' || t.attempt > 0)
        .sort((a, b) => a.number - b.number).slice(-OVERLAY_MAX);
    const stale = started.filter((t) => {
        const c = ov.cache.get(t.id);
        return !c || !c.final || c.attempt !== t.attempt;
    });
    for (let i = 0; m && i < stale.length; i += 8) {
        const chunk = stale.slice(i, i + 8);
        const got = await Promise.all(chunk.map((t) => api(`/trials/${t.id}/metrics`)));
        chunk.forEach((t, k) => ov.cache.set(t.id, {
            final: FINAL.has(t.state),
            attempt: t.attempt,
            rows: got[k].filter((r) => r.name === m && r.attempt === t.attempt &&
                                       typeof r.value === 'number' && isFinite(r.value)),
        }));
    }
    if (app.route.view !== 'sweep') return;
    drawOverlay(m ? started : [], m);
}

const OVERLAY_COLORS = {
    running: 'rgba(28,126,214,0.75)', succeeded: 'rgba(47,158,68,0.55)',
    stopped: 'rgba(232,89,12,0.75)', failed: 'rgba(173,181,189,0.8)', cancelled: 'rgba(173,181,189,0.8)',
};

/* True when the values are positive and span more than two decades. */
function logScale(lines) {
    const v = lines.flatMap((l) => l.rows.map((r) => r.value));
    const lo = Math.min(...v), hi = Math.max(...v);
    return lo > 0 && hi / lo > 100;
}

/* One chart: x = step, one series per trial; the best trial drawn dark and
 * thick; a cross where each stopped trial was stopped. */
function drawOverlay(trials, m) {
    const ov = app.overlay;
    const box = $('#overlay');
    const lines = trials.map((t) => ({ t, rows: (ov.cache.get(t.id) || { rows: [] }).rows }))
        .filter((l) => l.rows.length > 0);
    const best = bestTrial();
    const key = JSON.stringify([m, box.clientWidth, best && best.number,
        lines.map((l) => [l.t.id, l.t.state, l.rows.length, l.rows[l.rows.length - 1].value])]);
    if (ov.key === key) return;
    ov.key = key;
    if (ov.plot) ov.plot.destroy();
    ov.plot = null;
    box.replaceChildren();
    $('#overlay-empty').classList.toggle('hidden', lines.length > 0);
    const stops = lines.filter((l) => l.t.state === 'stopped');
    box.dataset.trials = lines.length;
    box.dataset.stopped = stops.length;
    if (!lines.length) return;
    const steps = [...new Set(lines.flatMap((l) => l.rows.map((r) => r.step)))].sort((a, b) => a - b);
    const data = [steps];
    for (const l of lines) {
        const at = new Map(l.rows.map((r) => [r.step, r.value]));
        data.push(steps.map((s) => (at.has(s) ? at.get(s) : null)));
    }
    /* where each stopped trial stopped: its stopped_step, else its last row */
    const marks = stops.map((l) => {
        const r = l.rows.find((x) => x.step === l.t.stopped_step) || l.rows[l.rows.length - 1];
        return [r.step, r.value];
    });
    const cross = (u) => {
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = '#c92a2a';
        ctx.lineWidth = 2 * devicePixelRatio;
        const d = 5 * devicePixelRatio;
        for (const [x, y] of marks) {
            const px = u.valToPos(x, 'x', true), py = u.valToPos(y, 'y', true);
            ctx.beginPath();
            ctx.moveTo(px - d, py - d); ctx.lineTo(px + d, py + d);
            ctx.moveTo(px - d, py + d); ctx.lineTo(px + d, py - d);
            ctx.stroke();
        }
        ctx.restore();
    };
    const opts = {
        width: Math.max(300, box.clientWidth - 2), height: 300,
        legend: { show: false },
        cursor: { points: { show: false } },
        /* a log scale when one diverged trial would flatten the rest */
        scales: { x: { time: false }, y: logScale(lines) ? { distr: 3 } : {} },
        axes: [{ label: 'step', incrs: STEP_INCRS }, { label: m }],
        series: [{ label: 'step' }, ...lines.map((l) => {
            const isBest = best && l.t.number === best.number;
            return {
                label: `trial ${l.t.number}`,
                stroke: isBest ? '#1d2125' : OVERLAY_COLORS[l.t.state] || OVERLAY_COLORS.failed,
                width: isBest ? 3 : 1.5, spanGaps: true, points: { show: false },
            };
        })],
        hooks: { draw: [cross] },
    };
    ov.plot = new uPlot(opts, data, box);
}

/* ---- trial detail: metric curves and log ---------------------------- */

function clearDetail() {
    for (const p of app.curves.plots) p.destroy();
    app.curves = { trialId: null, key: '', plots: [] };
    app.log = { trialId: null, attempt: 0, text: null };
    app.logChoice = 0;
    $('#curves').replaceChildren();
    $('#log').textContent = '';
    $('#log-attempt').replaceChildren();
    $('#trial-detail').classList.add('hidden');
    $('#trial-curves').classList.add('hidden');
}

async function pollDetail() {
    const t = app.trials.find((x) => x.number === app.selected);
    if (!t) {
        clearDetail();
        return;
    }
    if (app.log.trialId !== null && app.log.trialId !== t.id) app.logChoice = 0;
    $('#trial-detail').classList.remove('hidden');
    $('#trial-curves').classList.remove('hidden');
    for (const e of document.querySelectorAll('.trial-no')) e.textContent = t.number;
    const attempt = app.logChoice;
    const [series, log, att] = await Promise.all([
        api(`/trials/${t.id}/metrics`),
        api(`/trials/${t.id}/log` + (attempt ? `?attempt=${attempt}` : ''), true).catch((e) => {
            if (e.status === 404) return null;
            throw e;
        }),
        api(`/trials/${t.id}/attempts`),
    ]);
    if (app.selected !== t.number) return;
    renderTrialInfo(t, att.attempts);
    drawCurves(t, series);
    showLog(t, log, attempt);
}

function renderTrialInfo(t, attempts) {
    $('#trial-state').replaceChildren(el('span', { class: 'badge ' + t.state }, t.state));
    const fields = [
        ['parameters', Object.entries(t.params).map(([k, v]) => `${k}=${paramText(v)}`).join(' ')],
        ['metrics', Object.entries(t.metrics).map(([k, v]) => `${k}=${fmtNum(v)}`).join(' ') || '—'],
        ['key', t.key],
    ];
    if (t.agent_id) fields.push(['agent', t.agent_id]);
    if (t.exit_code !== null && t.exit_code !== undefined) fields.push(['exit code', t.exit_code]);
    if (t.term_signal) fields.push(['signal', t.term_signal]);
    if (t.error) fields.push(['error', t.error]);
    if (t.cancel_requested) fields.push(['cancel', 'requested']);
    $('#trial-fields').replaceChildren(...fields.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
    $('#attempts tbody').replaceChildren(...attempts.map((a) => el('tr', {},
        el('td', { class: 'num' }, a.attempt),
        el('td', {}, el('span', { class: 'badge ' + outcomeClass(a.outcome) }, a.outcome)),
        el('td', {}, a.agent_id || ''),
        el('td', {}, a.started_at ? ago(a.started_at) : ''),
        el('td', { class: 'num' }, duration(a.started_at && a.finished_at ? a.finished_at - a.started_at : null)),
        el('td', { class: 'num' }, a.exit_code === null || a.exit_code === undefined ? '' : a.exit_code),
        el('td', { class: 'error-text' }, a.error || ''))));
    $('#attempts').classList.toggle('hidden', attempts.length === 0);
}

function outcomeClass(o) {
    if (o === 'succeeded') return 'succeeded';
    if (o === 'none') return 'running';
    if (o === 'cancelled' || o === 'preempted') return 'cancelled';
    return 'failed'; /* failed, timed_out, lost */
}

/* Steps are whole numbers: ticks 1, 2, 5, 10, 20, 50, ... apart. */
const STEP_INCRS = [];
for (let e = 0; e < 10; e++) STEP_INCRS.push(10 ** e, 2 * 10 ** e, 5 * 10 ** e);

/* One chart per metric name, x = step, one series per attempt. */
function drawCurves(t, series) {
    const key = t.id + ':' + JSON.stringify(series);
    if (app.curves.key === key) return; /* nothing new: keep the charts (and any zoom) */
    for (const p of app.curves.plots) p.destroy();
    app.curves = { trialId: t.id, key, plots: [] };
    const box = $('#curves');
    box.replaceChildren();
    $('#curves-empty').classList.toggle('hidden', series.length > 0);
    box.dataset.series = series.length;

    const byName = new Map();
    for (const r of series) {
        if (typeof r.value !== 'number') continue;
        if (!byName.has(r.name)) byName.set(r.name, []);
        byName.get(r.name).push(r);
    }
    const m = metricName();
    const names = [...byName.keys()].sort((a, b) => (b === m) - (a === m) || a.localeCompare(b));
    /* up to three charts side by side */
    const across = Math.max(1, Math.min(names.length, 3, Math.floor(box.clientWidth / 320)));
    const width = Math.floor((box.clientWidth - 16 * (across - 1)) / across) - 2;
    const colors = ['#1971c2', '#e8590c', '#2f9e44', '#9c36b5', '#c2255c'];
    for (const name of names) {
        const rows = byName.get(name);
        const steps = [...new Set(rows.map((r) => r.step))].sort((a, b) => a - b);
        const attempts = [...new Set(rows.map((r) => r.attempt))].sort((a, b) => a - b);
        const data = [steps];
        for (const a of attempts) {
            const at = new Map(rows.filter((r) => r.attempt === a).map((r) => [r.step, r.value]));
            data.push(steps.map((s) => (at.has(s) ? at.get(s) : null)));
        }
        const div = el('div', { class: 'curve', dataset: { metric: name } });
        box.append(div);
        const opts = {
            title: name, width, height: 170,
            scales: { x: { time: false } },
            axes: [{ label: 'step', incrs: STEP_INCRS }, {}],
            series: [{ label: 'step' }, ...attempts.map((a, i) => ({
                label: attempts.length > 1 ? `attempt ${a}` : name,
                stroke: colors[i % colors.length], width: 2, spanGaps: true,
                points: { show: steps.length < 60 },
            }))],
        };
        app.curves.plots.push(new uPlot(opts, data, div));
    }
}

/* attempt: the one asked for, 0 for the latest. */
function showLog(t, text, attempt) {
    const pre = $('#log');
    const sel = $('#log-attempt');
    if (sel.options.length !== t.attempt + 1 || app.log.trialId !== t.id) {
        sel.replaceChildren(el('option', { value: 0 }, t.attempt ? `latest (${t.attempt})` : 'latest'));
        for (let a = t.attempt; a >= 1; a--) sel.append(el('option', { value: a }, a));
        sel.value = String(attempt);
    }
    const shown = text === null ? (t.state === 'pending' ? 'not started yet' : 'no log stored yet') : text;
    if (app.log.trialId === t.id && app.log.text === shown && app.log.attempt === attempt) return;
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const sameTrial = app.log.trialId === t.id && app.log.attempt === attempt;
    pre.textContent = shown;
    pre.classList.toggle('muted', text === null);
    if (atBottom || !sameTrial) pre.scrollTop = pre.scrollHeight;
    app.log = { trialId: t.id, attempt, text: shown };
}

/* ---- start ---------------------------------------------------------- */

function start() {
    takeTokenFromFragment();
    $('#token-entry').addEventListener('submit', (e) => {
        e.preventDefault();
        const v = $('#token-input').value.trim();
        if (!v) return;
        sessionStorage.setItem(TOKEN_KEY, v);
        app.token = v;
        $('#token-input').value = '';
        onRoute();
    });
    $('#state-filter').addEventListener('change', () => { renderTable(); drawParcoords(); });
    $('#param-search').addEventListener('input', () => { renderTable(); drawParcoords(); });
    window.addEventListener('hashchange', () => {
        takeTokenFromFragment();
        onRoute();
    });
    $('#log-attempt').addEventListener('change', (e) => {
        app.logChoice = Number(e.target.value);
        pollNow();
    });
    const canvas = $('#parcoords');
    canvas.addEventListener('mousemove', pcHover);
    canvas.addEventListener('mouseleave', () => $('#pc-tip').classList.add('hidden'));
    canvas.addEventListener('click', (ev) => {
        const l = pcHover(ev);
        if (l) location.hash = sweepHash(app.sweep.name, l.trial.number);
    });
    let resizeTimer = null;
    window.addEventListener('resize', () => {
        clearTimeout(resizeTimer);
        resizeTimer = setTimeout(() => {
            drawParcoords();
            app.curves.key = ''; /* redraw the charts at the new width */
            app.overlay.key = '';
            pollNow();
        }, 200);
    });
    app.route = { view: null };
    onRoute();
}

window.sweepqDashboard = app; /* for the browser's console and the tests */
start();
