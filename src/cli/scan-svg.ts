/**
 * `writewatch scan --svg`: the residency picture as a self-contained SVG, one row per mapping, one
 * cell per bucket of pages, coloured by the class holding most of its pages.
 */
import { CLASS, CLASSES, bucketPages, type ProcessResidency } from '../sys/pagemap/residency.js';

const CELL = 6;
const ROW = 14;
const LABEL = 330;

const COLOURS: Record<number, string> = {
  [CLASS.HUGE]: '#7b2cbf',
  [CLASS.SWAPPED]: '#f77f00',
  [CLASS.ZERO]: '#90e0ef',
  [CLASS.GUARD]: '#d62828',
  [CLASS.WRITTEN]: '#ffb703',
};

function escape(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);
}

export function renderSvg(r: ProcessResidency, title: string): string {
  const width = Math.max(1, ...r.mappings.map((m) => (m.buckets ? m.buckets.length / CLASSES : 0)));
  const w = LABEL + width * CELL + 10;
  const h = ROW * (r.mappings.length + 3);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="monospace" font-size="10">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="4" y="${ROW - 3}" font-weight="bold">${escape(title)}: residency per mapping (${r.pageSize}-byte pages)</text>`,
  ];
  r.mappings.forEach((m, row) => {
    const y = ROW * (row + 1);
    const label = `${m.startHex}-${m.endHex} ${m.perms} ${m.pathname}`;
    out.push(`<text x="4" y="${y + ROW - 4}"><title>${escape(`${label}: ${m.resident} resident, ${m.swapped} swapped, ${m.zero} zero, ${m.huge} huge of ${m.pages} pages`)}</title>${escape(label.length > 54 ? `${label.slice(0, 53)}…` : label)}</text>`);
    const b = m.buckets;
    if (!b) return;
    const n = b.length / CLASSES;
    for (let k = 0; k < n; k++) {
      const o = k * CLASSES;
      let best = -1, count = 0;
      for (const cls of [CLASS.HUGE, CLASS.PRESENT, CLASS.SWAPPED, CLASS.ZERO, CLASS.GUARD]) {
        if (b[o + cls] > count) (best = cls), (count = b[o + cls]);
      }
      let fill = '#eeeeee';
      if (b[o + CLASS.WRITTEN] > 0) fill = COLOURS[CLASS.WRITTEN];
      else if (best === CLASS.PRESENT) {
        // Darker green for a denser bucket, so a sparse heap reads differently from a full one.
        const f = count / bucketPages(k, n, m.pages);
        fill = `hsl(140, 60%, ${Math.round(75 - 50 * f)}%)`;
      } else if (best >= 0) fill = COLOURS[best];
      out.push(`<rect x="${LABEL + k * CELL}" y="${y + 2}" width="${CELL - 1}" height="${ROW - 4}" fill="${fill}"/>`);
    }
  });
  const ly = ROW * (r.mappings.length + 2) - 3;
  const legend: [string, string][] = [['hsl(140, 60%, 25%)', 'resident'], ['#90e0ef', 'zero page'], ['#7b2cbf', 'huge'], ['#f77f00', 'swapped / uffd marker'], ['#d62828', 'guard'], ['#ffb703', 'written (write-watched)'], ['#eeeeee', 'not resident']];
  let x = 4;
  for (const [c, t] of legend) {
    out.push(`<rect x="${x}" y="${ly - 8}" width="8" height="8" fill="${c}"/><text x="${x + 12}" y="${ly}">${t}</text>`);
    x += 12 + t.length * 6 + 18; // 10px monospace is 6px per character
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
