/**
 * The plot: get+reset time versus the fraction of pages written (spread at random), one panel per
 * region size, one line per method, log-scale time. Plain SVG, no dependency.
 */
import { fmtFraction, fmtSize, fmtTime } from './stats.mjs';

const COLORS = { C: '#222222', get: '#1f77b4', getInto: '#2ca02c', win32: '#9467bd', shadow: '#d62728' };
const LABELS = {
  C: 'C loop (the limit)',
  get: 'writewatch get({reset})',
  getInto: 'writewatch getInto(reset)',
  win32: 'win32 GetWriteWatch(RESET)',
  shadow: 'shadow copy + Buffer#compare (no library)',
};

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** `panels`: [{ length, sparse, points: [{ fraction, ns: { method: ns } }] }]. */
export function plot(panels, title) {
  const W = 330, H = 300, L = 70, R = 12, T = 46;
  const width = W * panels.length, height = H + 96;
  const all = panels.flatMap((p) => p.points.flatMap((q) => Object.values(q.ns))).filter((x) => x > 0 && Number.isFinite(x));
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all)))), hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all))));
  const methods = Object.keys(COLORS).filter((m) => panels.some((p) => p.points.some((q) => q.ns[m] > 0)));
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
  panels.forEach((p, i) => {
    const x0 = i * W + L, x1 = (i + 1) * W - R, y0 = T, y1 = H;
    const n = p.points.length;
    const xs = (j) => x0 + ((x1 - x0) * (j + 0.5)) / n;
    const ys = (v) => y1 - ((y1 - y0) * Math.log10(v / lo)) / Math.log10(hi / lo);
    out.push(`<text x="${(x0 + x1) / 2}" y="${T - 10}" text-anchor="middle" font-weight="bold">${esc(fmtSize(p.length))}${p.sparse ? ' sparse' : ''}</text>`);
    out.push(`<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="none" stroke="#999"/>`);
    for (let d = lo; d <= hi * 1.0001; d *= 10) {
      const y = ys(d);
      out.push(`<line x1="${x0}" x2="${x1}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
      out.push(`<text x="${x0 - 4}" y="${y + 4}" text-anchor="end">${esc(fmtTime(d))}</text>`);
    }
    p.points.forEach((q, j) => out.push(`<text x="${xs(j)}" y="${y1 + 14}" text-anchor="middle">${esc(fmtFraction(q.fraction))}</text>`));
    out.push(`<text x="${(x0 + x1) / 2}" y="${y1 + 30}" text-anchor="middle">pages written</text>`);
    for (const m of methods) {
      const pts = p.points.map((q, j) => [xs(j), q.ns[m]]).filter(([, v]) => v > 0 && Number.isFinite(v));
      if (!pts.length) continue;
      const d = pts.map(([x, v], k) => `${k ? 'L' : 'M'}${x.toFixed(1)},${ys(v).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${COLORS[m]}" stroke-width="2"/>`);
      for (const [x, v] of pts) out.push(`<circle cx="${x.toFixed(1)}" cy="${ys(v).toFixed(1)}" r="2.5" fill="${COLORS[m]}"/>`);
    }
  });
  out.push(`<text transform="translate(13,${(T + H) / 2}) rotate(-90)" text-anchor="middle">time per call (log)</text>`);
  methods.forEach((m, k) => {
    const x = 20 + (k % 3) * (width / 3), y = H + 56 + Math.floor(k / 3) * 18;
    out.push(`<line x1="${x}" x2="${x + 24}" y1="${y - 4}" y2="${y - 4}" stroke="${COLORS[m]}" stroke-width="3"/>`);
    out.push(`<text x="${x + 30}" y="${y}">${esc(LABELS[m])}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
