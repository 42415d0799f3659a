/** Medians and number formatting for the tables. */

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** A duration in ns as a short human figure: 450 ns, 12.3 µs, 4.56 ms, 1.23 s. */
export function fmtTime(ns) {
  if (!Number.isFinite(ns)) return '–';
  if (ns < 1e3) return `${ns.toFixed(0)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toPrecision(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toPrecision(3)} ms`;
  return `${(ns / 1e9).toPrecision(3)} s`;
}

export function fmtRatio(r) {
  if (!Number.isFinite(r)) return '–';
  if (r >= 100) return `${r.toFixed(0)}×`;
  if (r >= 10) return `${r.toFixed(1)}×`;
  return `${r.toFixed(2)}×`;
}

export function fmtBytes(b) {
  if (!Number.isFinite(b)) return '–';
  const a = Math.abs(b);
  if (a >= 2 ** 30) return `${(b / 2 ** 30).toPrecision(3)} GiB`;
  if (a >= 2 ** 20) return `${(b / 2 ** 20).toPrecision(3)} MiB`;
  if (a >= 2 ** 10) return `${(b / 2 ** 10).toPrecision(3)} KiB`;
  return `${b.toFixed(b % 1 ? 2 : 0)} B`;
}

export function fmtSize(bytes) {
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${bytes / 2 ** 20} MiB`;
}

export function fmtFraction(f) {
  return `${+(f * 100).toPrecision(3)} %`;
}
