/** bench/chart.svg: two bar charts, req/s and p99 per target, in plain SVG. */
import type { Results } from "./report";

const WIDTH = 760;
const LABEL_WIDTH = 200;
const VALUE_WIDTH = 90;
const BAR_HEIGHT = 18;
const ROW_HEIGHT = 26;
const PANEL_GAP = 36;
const TITLE_HEIGHT = 28;
const COLORS: Record<string, string> = {
  floor: "#7f8c8d",
  upstream: "#c0392b",
  naive: "#e67e22",
  "naive-cache": "#d4ac0d",
  hit: "#27ae60",
  miss: "#2980b9",
  token: "#8e44ad",
};

interface Bar {
  name: string;
  label: string;
  value: number;
  text: string;
}

const xml = (text: string) =>
  text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

function panel(title: string, bars: Bar[], top: number): string {
  const max = Math.max(...bars.map((bar) => bar.value), 1e-9);
  const span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
  const rows = bars.map((bar, index) => {
    const y = top + TITLE_HEIGHT + index * ROW_HEIGHT;
    const width = Math.max(1, (bar.value / max) * span);
    const color = COLORS[bar.name] ?? "#34495e";
    return [
      `<text x="${LABEL_WIDTH - 8}" y="${y + 13}" text-anchor="end">${xml(bar.label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}"/>`,
      `<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${y + 13}">${xml(bar.text)}</text>`,
    ].join("\n  ");
  });
  const heading = `<text x="8" y="${top + 18}" font-weight="bold">${xml(title)}</text>`;
  return [heading, ...rows].join("\n  ");
}

function panelHeight(rows: number): number {
  return TITLE_HEIGHT + rows * ROW_HEIGHT;
}

export function renderChart(results: Results): string {
  const targets = results.targets;
  const throughput = targets.map((t) => ({
    name: t.name,
    label: t.title,
    value: t.reqPerSec,
    text: `${Math.round(t.reqPerSec).toLocaleString("en-US")} req/s`,
  }));
  const p99 = targets.map((t) => ({
    name: t.name,
    label: t.title,
    value: t.latencyMs.p99,
    text: `${t.latencyMs.p99.toFixed(t.latencyMs.p99 < 10 ? 2 : 1)} ms`,
  }));
  const { settings, machine } = results;
  const caption = `${settings.connections} connections, ${settings.rounds}×${settings.durationS} s interleaved, upstream latency ${settings.upstreamLatencyMs} ms; ${machine.nproc} × ${machine.cpuModel}, ${results.date.slice(0, 10)}`;
  const secondTop = panelHeight(targets.length) + PANEL_GAP;
  const height = secondTop + panelHeight(targets.length) + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">
  <rect width="100%" height="100%" fill="#ffffff"/>
  ${panel("Requests per second (higher is better)", throughput, 0)}
  ${panel("p99 latency (lower is better)", p99, secondTop)}
  <text x="8" y="${height - 10}" fill="#555555" font-size="11">${xml(caption)}</text>
</svg>
`;
}
