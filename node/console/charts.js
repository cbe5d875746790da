// Inline SVG charts (no library): a bar chart with labelled axes.

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A bar chart of `bars` ([{ label, value, title }]) as an <svg> element of class `cls`;
 * `slots`: room for at least this many bars (a chart that fills up keeps its bar width). */
export function barChart(bars, { cls = 'chart', width = 560, height = 180, unit = '', slots = 0 } = {}) {
  const pad = { left: 44, right: 8, top: 12, bottom: 28 };
  const svg = el('svg', {
    class: cls, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img',
  });
  const max = Math.max(1, ...bars.map((b) => b.value));
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  svg.appendChild(el('line', {
    x1: pad.left, y1: pad.top + plotH, x2: width - pad.right, y2: pad.top + plotH, class: 'axis',
  }));
  svg.appendChild(el('text', { x: pad.left - 6, y: pad.top + 4, class: 'tick', 'text-anchor': 'end' },
    formatNumber(max)));
  svg.appendChild(el('text', { x: pad.left - 6, y: pad.top + plotH, class: 'tick', 'text-anchor': 'end' },
    '0'));
  const slot = plotW / Math.max(1, bars.length, slots);
  const every = Math.max(1, Math.ceil(bars.length / 10));
  bars.forEach((b, i) => {
    const h = (b.value / max) * plotH;
    const x = pad.left + i * slot + slot * 0.15;
    const rect = el('rect', {
      x: x.toFixed(1), y: (pad.top + plotH - h).toFixed(1),
      width: Math.max(1, slot * 0.7).toFixed(1), height: h.toFixed(1), class: 'bar',
      'data-value': b.value,
    });
    rect.appendChild(el('title', {}, b.title || `${b.label}: ${formatNumber(b.value)}${unit}`));
    svg.appendChild(rect);
    if (i % every === 0) {
      svg.appendChild(el('text', {
        x: (pad.left + i * slot + slot / 2).toFixed(1), y: height - 10, class: 'tick',
        'text-anchor': 'middle',
      }, b.label));
    }
  });
  return svg;
}

/** 1234 -> "1234", 12345.6 -> "12346", 0.25 -> "0.25". */
export function formatNumber(n) {
  if (n >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return n.toFixed(2);
}
