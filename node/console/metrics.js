// Request rates from the admin port's Prometheus text (/metrics, unsigned: counters only).
// Per stage from tollgate_api_requests_total{api,stage}: the stage-level series (a method with
// detailed metrics is counted again in its own series, which carries `resource` and `method`,
// so those are skipped); when the node does not export it, the node-wide
// tollgate_requests_total as one row.

const PER_STAGE = 'tollgate_api_requests_total';
const NODE_WIDE = 'tollgate_requests_total';

/** The labels of a sample's `{...}` (values unescaped). */
export function parseLabels(text) {
  const labels = {};
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
  let m;
  while ((m = re.exec(text)) !== null) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** Counter totals by stage: Map "api/stage" -> { api, stage, total }; the node-wide
 * total under key "" (api and stage null) when there is no per-stage counter. */
export function totalsByStage(text) {
  const totals = new Map();
  let nodeWide = null;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[4]);
    if (!Number.isFinite(value)) continue;
    if (m[1] === PER_STAGE) {
      const l = parseLabels(m[3] || '');
      if (l.resource !== undefined || l.method !== undefined) continue;
      const key = `${l.api || ''}/${l.stage || ''}`;
      const row = totals.get(key) || { api: l.api || '', stage: l.stage || '', total: 0 };
      row.total += value;
      totals.set(key, row);
    } else if (m[1] === NODE_WIDE && !m[2]) {
      nodeWide = value;
    }
  }
  if (totals.size === 0 && nodeWide !== null) {
    totals.set('', { api: null, stage: null, total: nodeWide });
  }
  return totals;
}

/** Rates per second between two samples ({ at: ms, totals }): Map key -> rate (a counter
 * that went down, a restart, counts from zero). */
export function rates(before, after) {
  const out = new Map();
  const seconds = (after.at - before.at) / 1000;
  if (!(seconds > 0)) return out;
  for (const [key, row] of after.totals) {
    const prev = before.totals.get(key);
    const delta = prev && row.total >= prev.total ? row.total - prev.total : row.total;
    out.set(key, delta / seconds);
  }
  return out;
}
