// The Tollgate web console: sign-in, then pages over the admin API (every call signed).
// Pages are chosen by the URL's fragment (#/apis, #/apis/{id}, #/stages, #/keys, #/cluster,
// #/traffic). Everything shown is built with DOM calls and textContent (names come from the
// API and are never parsed as HTML).

import {
  Api, ApiError, forgetCredentials, loadCredentials, nodeRegion, saveCredentials,
} from './api.js';
import { barChart, formatNumber } from './charts.js';
import { rates, totalsByStage } from './metrics.js';

/** How often the traffic page reads /metrics (ms). */
const POLL_MS = 2000;
/** How many rate samples the traffic chart shows. */
const HISTORY = 30;

let api = null;
let stopPage = () => {};

function $(id) { return document.getElementById(id); }

/** h('tag.class', { attr }, ...children): an element; strings become text nodes. */
function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const e = document.createElement(tag);
  if (classes.length) e.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function table(headers, rows, attrs = {}) {
  return h('table', attrs, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows));
}

function when(epochSeconds) {
  if (epochSeconds === undefined || epochSeconds === null) return '';
  const d = new Date(Number(epochSeconds) * 1000);
  return Number.isNaN(d.getTime()) ? String(epochSeconds) : d.toISOString().replace('.000Z', 'Z');
}

function showError(where, e) {
  where.append(h('p.error', { role: 'alert' }, e instanceof ApiError ? e.message : String(e)));
}

// ----- sign-in -------------------------------------------------------------------------------

async function showSignIn(message) {
  $('nav').hidden = true;
  $('sign-out').hidden = true;
  $('who').textContent = '';
  $('page').hidden = true;
  $('sign-in').hidden = false;
  $('sign-in-error').textContent = message || '';
  if (!$('region').value) $('region').value = await nodeRegion();
}

async function signIn(event) {
  event.preventDefault();
  const credentials = {
    accessKeyId: $('access-key').value.trim(),
    secretAccessKey: $('secret-key').value,
    region: $('region').value.trim(),
  };
  const candidate = new Api(credentials);
  try {
    await candidate.call('GET', '/restapis?limit=1');
  } catch (e) {
    $('sign-in-error').textContent = `Sign-in failed: ${e.message}`;
    return;
  }
  $('secret-key').value = '';
  saveCredentials(credentials);
  api = candidate;
  if (!location.hash || location.hash === '#/') location.hash = '#/apis';
  route();
}

function signOut() {
  forgetCredentials();
  api = null;
  stopPage();
  showSignIn('Signed out.');
}

// ----- pages ---------------------------------------------------------------------------------

async function apisPage(page) {
  page.append(h('h1', {}, 'APIs'));
  const apis = await api.all('/restapis');
  if (!apis.length) {
    page.append(h('p.muted', {}, 'No API yet.'));
    return;
  }
  page.append(table(['Name', 'Id', 'Created', 'Description'], apis.map((a) => h('tr', {},
    h('td', {}, h('a', { href: `#/apis/${encodeURIComponent(a.id)}`, class: 'api-link' }, a.name)),
    h('td.path', {}, a.id), h('td', {}, when(a.createdDate)), h('td', {}, a.description || ''))),
  { id: 'apis' }));
}

/** Nests resources (each with parentId) into a tree of <ul>s, methods as badges. */
function resourceTree(resources) {
  const children = new Map();
  let root = null;
  for (const r of resources) {
    if (!r.parentId) root = r;
    else children.set(r.parentId, [...(children.get(r.parentId) || []), r]);
  }
  const node = (r, depth) => {
    const kids = depth < 64 ? (children.get(r.id) || []) : [];
    kids.sort((a, b) => (a.path < b.path ? -1 : 1));
    const methods = Object.keys(r.resourceMethods || {}).sort();
    return h('li', { 'data-path': r.path },
      h('span.path', {}, r.parentId ? `/${r.pathPart}` : '/'),
      methods.map((m) => h('span.method', {}, m)),
      kids.length ? h('ul.tree', {}, kids.map((k) => node(k, depth + 1))) : null);
  };
  return h('ul.tree', { id: 'resource-tree' }, root ? node(root, 0) : []);
}

async function apiPage(page, id) {
  const [a, resources] = await Promise.all([
    api.call('GET', `/restapis/${encodeURIComponent(id)}`),
    api.all(`/restapis/${encodeURIComponent(id)}/resources`),
  ]);
  page.append(h('h1', {}, `API ${a.name}`), h('p.muted', {}, `${a.id} · ${resources.length} resources`),
    h('h2', {}, 'Resources and methods'), h('div.card', {}, resourceTree(resources)),
    h('p', {}, h('a', { href: `#/stages/${encodeURIComponent(id)}` }, 'Stages and deployments →')));
}

async function stagesPage(page, chosen) {
  page.append(h('h1', {}, 'Stages and deployments'));
  const apis = await api.all('/restapis');
  if (!apis.length) {
    page.append(h('p.muted', {}, 'No API yet.'));
    return;
  }
  const id = chosen || apis[0].id;
  const select = h('select', {
    id: 'stage-api',
    onchange: (e) => { location.hash = `#/stages/${encodeURIComponent(e.target.value)}`; },
  }, apis.map((a) => h('option', { value: a.id, selected: a.id === id }, `${a.name} (${a.id})`)));
  page.append(h('label', {}, 'API ', select));
  const base = `/restapis/${encodeURIComponent(id)}`;
  const [stagesAnswer, deployments] = await Promise.all([
    api.call('GET', `${base}/stages`), api.all(`${base}/deployments`),
  ]);
  const stages = stagesAnswer.item || [];
  deployments.sort((x, y) => (y.createdDate || 0) - (x.createdDate || 0));
  if (!stages.length) page.append(h('p.muted', {}, 'No stage yet.'));
  for (const s of stages) {
    const rows = deployments.map((d) => {
      const current = d.id === s.deploymentId;
      const action = current ? h('span.badge', {}, 'current')
        : rollbackButton(base, s.stageName, d.id, page);
      return h('tr', { 'data-deployment': d.id, class: current ? 'current' : '' },
        h('td.path', {}, d.id), h('td', {}, when(d.createdDate)),
        h('td', {}, d.description || ''), h('td', {}, action));
    });
    page.append(h('div.card', { 'data-stage': s.stageName },
      h('h2', {}, `Stage ${s.stageName}`),
      h('p.muted', {}, `deployment ${s.deploymentId || '—'} · last updated ${when(s.lastUpdatedDate)}`),
      table(['Deployment', 'Created', 'Description', ''], rows)));
  }
}

/** A button that, clicked twice (arm, then confirm), points the stage at deployment `id`. */
function rollbackButton(base, stage, id, page) {
  const b = h('button.danger.rollback', { type: 'button', 'data-deployment': id }, 'Roll back to this');
  b.addEventListener('click', async () => {
    if (!b.classList.contains('armed')) {
      b.classList.add('armed');
      b.textContent = `Confirm: serve ${id} on ${stage}`;
      return;
    }
    b.disabled = true;
    try {
      await api.call('PATCH', `${base}/stages/${encodeURIComponent(stage)}`, {
        patchOperations: [{ op: 'replace', path: '/deploymentId', value: id }],
      });
      route();
    } catch (e) {
      showError(page, e);
      b.disabled = false;
    }
  });
  return b;
}

function isoDay(d) { return d.toISOString().slice(0, 10); }

async function keysPage(page) {
  page.append(h('h1', {}, 'API keys and usage plans'));
  const [keys, plans] = await Promise.all([api.all('/apikeys'), api.all('/usageplans')]);
  const keyName = new Map(keys.map((k) => [k.id, k.name]));
  page.append(h('h2', {}, 'API keys'), keys.length ? table(['Name', 'Id', 'Enabled', 'Created'],
    keys.map((k) => h('tr', {}, h('td', {}, k.name), h('td.path', {}, k.id),
      h('td', {}, k.enabled ? 'yes' : 'no'), h('td', {}, when(k.createdDate)))), { id: 'keys' })
    : h('p.muted', {}, 'No API key.'));
  page.append(h('h2', {}, 'Usage plans'));
  if (!plans.length) page.append(h('p.muted', {}, 'No usage plan.'));
  const end = new Date();
  const start = new Date(end.getTime() - 13 * 86400000);
  for (const p of plans) {
    const card = h('div.card.plan', { 'data-plan': p.id }, h('h2', {}, `${p.name}`),
      h('p.muted', {}, [
        `${p.id}`,
        p.throttle ? ` · throttle ${p.throttle.rateLimit}/s burst ${p.throttle.burstLimit}` : '',
        p.quota ? ` · quota ${p.quota.limit} per ${String(p.quota.period).toLowerCase()}` : '',
        ` · stages ${(p.apiStages || []).map((s) => `${s.apiId}/${s.stage}`).join(', ') || '—'}`,
      ].join('')));
    page.append(card);
    try {
      const usage = await api.call('GET', `/usageplans/${encodeURIComponent(p.id)}/usage`
        + `?startDate=${isoDay(start)}&endDate=${isoDay(end)}`);
      const values = usage.values || usage.items || {};
      const days = [];
      for (let t = start.getTime(); isoDay(new Date(t)) <= isoDay(end); t += 86400000) {
        days.push(isoDay(new Date(t)));
      }
      const perDay = days.map((day, i) => {
        let used = 0;
        const parts = [];
        for (const [key, series] of Object.entries(values)) {
          const n = Array.isArray(series[i]) ? Number(series[i][0]) || 0 : 0;
          used += n;
          if (n) parts.push(`${keyName.get(key) || key}: ${n}`);
        }
        return { label: day.slice(5), value: used, title: `${day}: ${used} requests${parts.length ? ` (${parts.join(', ')})` : ''}` };
      });
      const total = perDay.reduce((s, d) => s + d.value, 0);
      card.append(h('p', {}, `Requests in the last 14 days: `, h('strong.usage-total', {}, String(total))),
        barChart(perDay, { cls: 'chart usage-chart' }));
    } catch (e) {
      showError(card, e);
    }
  }
}

async function clusterPage(page) {
  page.append(h('h1', {}, 'Cluster'));
  let status;
  try {
    status = await api.call('GET', '/_tollgate/cluster');
  } catch (e) {
    if (e instanceof ApiError && e.status === 400) {
      page.append(h('p.muted', {}, 'This node runs without a cluster (a single local log).'));
      return;
    }
    throw e;
  }
  const leader = status.leader;
  page.append(h('div.card', {},
    h('p', {}, 'This node: ', h('strong', { id: 'this-node' }, `node ${status.node_id}`), ` (${status.state})`),
    h('p', {}, 'Leader: ', h('strong', { id: 'leader' }, leader == null ? 'unknown' : `node ${leader}`),
      ` · term ${status.term}`),
    h('p.muted', {}, `log ${status.last_log_index ?? '—'} · applied ${status.last_applied ?? '—'}`
      + ` · snapshot ${status.snapshot_index ?? '—'}`)));
  const onLeader = leader === status.node_id;
  page.append(table(['Node', 'Address', 'Role', 'Replicated to', 'Lag (entries)'],
    (status.members || []).map((m) => h('tr', { 'data-member': m.id },
      h('td', {}, `node ${m.id}`, m.id === leader ? h('span.badge', {}, 'leader') : null),
      h('td.path', {}, m.addr), h('td', {}, m.voter ? 'voter' : 'learner'),
      h('td', {}, m.matched ?? (onLeader ? '—' : 'known on the leader')),
      h('td.lag', {}, m.lag ?? (onLeader ? '—' : 'known on the leader')))),
    { id: 'members' }));
}

async function trafficPage(page) {
  page.append(h('h1', {}, 'Traffic'),
    h('p.muted', {}, `Requests per second, from this node's /metrics, read every ${POLL_MS / 1000} s.`));
  const apis = await api.all('/restapis');
  const apiName = new Map(apis.map((a) => [a.id, a.name]));
  const body = h('tbody');
  const chartBox = h('div.card');
  const note = h('p.muted');
  page.append(h('table', { id: 'rates' }, h('thead', {}, h('tr', {},
    ['API', 'Stage', 'Requests', 'Requests/s'].map((x) => h('th', {}, x)))), body), note, chartBox);
  let previous = null;
  const history = [];
  let stopped = false;
  let timer = null;
  const sample = async () => {
    try {
      const r = await fetch('/metrics', { cache: 'no-store', credentials: 'omit' });
      if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
      const now = { at: performance.now(), totals: totalsByStage(await r.text()) };
      if (stopped) return;
      if (previous) {
        const perStage = rates(previous, now);
        body.replaceChildren(...[...now.totals].map(([key, row]) => h('tr', { 'data-stage-key': key },
          h('td', {}, row.api === null ? 'all APIs (node-wide)' : `${apiName.get(row.api) || row.api}`),
          h('td', {}, row.stage === null ? 'all stages' : row.stage),
          h('td', {}, String(row.total)),
          h('td.rate', {}, formatNumber(perStage.get(key) || 0)))));
        note.textContent = now.totals.has('') ? 'Per-stage counters are not exported by this node: '
          + 'the node-wide request count is shown.' : '';
        const sum = [...perStage.values()].reduce((s, v) => s + v, 0);
        history.push({ label: new Date().toISOString().slice(11, 19), value: sum });
        if (history.length > HISTORY) history.shift();
        chartBox.replaceChildren(barChart(history, { cls: 'chart rate-chart', unit: '/s', slots: HISTORY }));
      }
      previous = now;
    } catch (e) {
      note.textContent = `Could not read /metrics: ${e.message}`;
    }
    if (!stopped) timer = setTimeout(sample, POLL_MS);
  };
  sample();
  return () => { stopped = true; clearTimeout(timer); };
}

// ----- routing -------------------------------------------------------------------------------

async function route() {
  stopPage();
  stopPage = () => {};
  if (!api) {
    showSignIn();
    return;
  }
  $('sign-in').hidden = true;
  $('nav').hidden = false;
  $('sign-out').hidden = false;
  $('who').textContent = `${api.credentials.accessKeyId} · ${api.credentials.region}`;
  const decode = (part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  };
  const [, name, arg] = (location.hash || '#/apis').split('/').map(decode);
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', a.dataset.page === name);
  }
  const page = h('section', { id: 'page', 'data-page': name || 'apis' });
  $('page').replaceWith(page);
  try {
    let stop;
    if (name === 'apis' && arg) stop = await apiPage(page, arg);
    else if (name === 'stages') stop = await stagesPage(page, arg);
    else if (name === 'keys') stop = await keysPage(page);
    else if (name === 'cluster') stop = await clusterPage(page);
    else if (name === 'traffic') stop = await trafficPage(page);
    else stop = await apisPage(page);
    if (typeof stop === 'function') {
      if ($('page') === page) stopPage = stop;
      else stop();
    }
    page.dataset.ready = 'true';
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) {
      forgetCredentials();
      api = null;
      showSignIn(`Signed out: ${e.message}`);
      return;
    }
    showError(page, e);
    page.dataset.ready = 'error';
  }
}

function start() {
  const credentials = loadCredentials();
  api = credentials ? new Api(credentials) : null;
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  route();
}

start();
