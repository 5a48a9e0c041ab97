// Two inline SVG charts for the HTML report, with no external assets: a line chart on log-log axes (time
// against tokens, one line per backend) and a grouped bar chart (share of the roofline floor, 0-100%).

export interface Series {
  name: string;
  color: string;
  dashed?: boolean;
  points: [number, number][];
}

const W = 560, H = 300, L = 64, R = 170, Tm = 28, B = 40;

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function fmtTick(v: number): string {
  if (v >= 1000) return `${v / 1000}k`;
  if (v >= 1) return String(Math.round(v * 100) / 100);
  return v.toPrecision(1);
}

function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) out.push(10 ** e);
  return out;
}

function legend(series: { name: string; color: string; dashed?: boolean }[]): string {
  return series.map((s, i) => {
    const y = Tm + 12 + i * 16;
    return `<line x1="${W - R + 12}" y1="${y}" x2="${W - R + 34}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>` +
      `<text x="${W - R + 40}" y="${y + 4}" font-size="11">${esc(s.name)}</text>`;
  }).join('');
}

/** Log-log line chart; x values are token counts, y values times in ms. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: Series[]): string {
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => x > 0 && y > 0);
  if (!pts.length) return '';
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const xlo = Math.min(...xs), xhi = Math.max(...xs, xlo * 10);
  const ylo = 10 ** Math.floor(Math.log10(Math.min(...ys))), yhi = 10 ** Math.ceil(Math.log10(Math.max(...ys)));
  const px = (x: number) => L + ((Math.log10(x) - Math.log10(xlo)) / (Math.log10(xhi) - Math.log10(xlo) || 1)) * (W - L - R);
  const py = (y: number) => H - B - ((Math.log10(y) - Math.log10(ylo)) / (Math.log10(yhi) - Math.log10(ylo) || 1)) * (H - Tm - B);
  const xticks = [...new Set(xs)].sort((a, b) => a - b);
  const grid = decades(ylo, yhi).filter((v) => v >= ylo && v <= yhi)
    .map((v) => `<line x1="${L}" x2="${W - R}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/><text x="${L - 6}" y="${py(v) + 4}" font-size="10" text-anchor="end">${fmtTick(v)}</text>`).join('');
  const xt = xticks.map((v) => `<text x="${px(v)}" y="${H - B + 14}" font-size="10" text-anchor="middle">${fmtTick(v)}</text>`).join('');
  const lines = series.map((s) => {
    const p = s.points.filter(([x, y]) => x > 0 && y > 0).sort((a, b) => a[0] - b[0]);
    const d = p.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    const dots = p.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${s.color}"><title>${esc(s.name)}: ${x} tokens, ${y.toPrecision(3)} ms</title></circle>`).join('');
    return `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>${dots}`;
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">` +
    `<text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>${grid}${xt}` +
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/><line x1="${L}" y1="${Tm}" x2="${L}" y2="${H - B}" stroke="#333"/>` +
    `<text x="${(L + W - R) / 2}" y="${H - 8}" font-size="11" text-anchor="middle">${esc(xLabel)}</text>` +
    `<text x="14" y="${(Tm + H - B) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${(Tm + H - B) / 2})">${esc(yLabel)}</text>` +
    `${lines}${legend(series)}</svg>`;
}

export interface BarSeries {
  name: string;
  color: string;
  values: (number | null)[];
}

/** Grouped bars on a 0-100 axis (values above 100 are drawn at 100 and labelled). */
export function barChart(title: string, groups: string[], yLabel: string, series: BarSeries[]): string {
  if (!groups.length || !series.length) return '';
  const py = (v: number) => H - B - (Math.min(v, 100) / 100) * (H - Tm - B);
  const gw = (W - L - R) / groups.length;
  const bw = Math.max(4, (gw - 12) / series.length);
  const grid = [0, 25, 50, 75, 100].map((v) => `<line x1="${L}" x2="${W - R}" y1="${py(v)}" y2="${py(v)}" stroke="#ddd"/><text x="${L - 6}" y="${py(v) + 4}" font-size="10" text-anchor="end">${v}%</text>`).join('');
  const bars = groups.map((g, gi) => {
    const x0 = L + gi * gw + 6;
    const label = `<text x="${x0 + (gw - 12) / 2}" y="${H - B + 14}" font-size="10" text-anchor="middle">${esc(g)}</text>`;
    return label + series.map((s, si) => {
      const v = s.values[gi];
      if (v === null || v === undefined || !Number.isFinite(v)) return '';
      const x = x0 + si * bw;
      return `<rect x="${x.toFixed(1)}" y="${py(v).toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(H - B - py(v)).toFixed(1)}" fill="${s.color}"><title>${esc(s.name)}, ${esc(g)}: ${v.toFixed(1)}%</title></rect>` +
        `<text x="${(x + bw / 2).toFixed(1)}" y="${(py(v) - 3).toFixed(1)}" font-size="9" text-anchor="middle">${v.toFixed(0)}</text>`;
    }).join('');
  }).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">` +
    `<text x="${L}" y="16" font-size="13" font-weight="bold">${esc(title)}</text>${grid}` +
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#333"/>` +
    `<text x="14" y="${(Tm + H - B) / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 14 ${(Tm + H - B) / 2})">${esc(yLabel)}</text>` +
    `${bars}${legend(series)}</svg>`;
}
