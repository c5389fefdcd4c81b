// One uPlot chart for all series of the view: one y axis per unit, gaps as gaps, filled cells dashed.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

import { gapLimit, splitByQuality, spanShortGaps, type Answer, type Values } from "./data";

export const PALETTE = [
  "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
  "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
];

export interface Drawn {
  label: string;
  color: string;
  unit: string | null;
  cadence: number | null; // seconds, from the catalog
}

export interface ChartHandlers {
  onZoom: (from: number, to: number) => void;
  onZoomOut: () => void;
  onDraw: () => void;
}

const unitLabel = (unit: string | null): string => unit ?? "(no unit)";

/** A lighter tint of a `#rrggbb` colour, for carried and interpolated cells. */
export function tint(color: string, alpha = 0.45): string {
  const n = Number.parseInt(color.slice(1), 16);
  const mix = (c: number): number => Math.round(c * alpha + 255 * (1 - alpha));
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map(mix) as [number, number, number];
  return `#${((1 << 24) | (r << 16) | (g << 8) | b).toString(16).slice(1)}`;
}

export interface Built {
  plot: uPlot;
  filled: boolean[]; // per series of the answer: whether a companion series of filled cells was drawn
}

export function buildChart(
  el: HTMLElement,
  answer: Answer,
  drawn: Drawn[],
  view: { from: number; to: number },
  size: { width: number; height: number },
  handlers: ChartHandlers,
): Built {
  const units: (string | null)[] = [];
  for (const d of drawn) if (!units.includes(d.unit)) units.push(d.unit);
  const scaleOf = (unit: string | null): string => `y${units.indexOf(unit)}`;

  // The x range is the window asked for, not the data's extent: missing data at either end stays visible.
  const scales: uPlot.Scales = { x: { time: true, range: () => [view.from, view.to] } };
  const axes: uPlot.Axis[] = [{ stroke: "#444", grid: { stroke: "#eee" }, ticks: { stroke: "#ddd" } }];
  units.forEach((unit, i) => {
    scales[scaleOf(unit)] = { auto: true };
    axes.push({
      scale: scaleOf(unit),
      label: unitLabel(unit),
      side: i % 2 === 0 ? 3 : 1,
      stroke: "#444",
      grid: { show: i === 0, stroke: "#eee" },
      ticks: { stroke: "#ddd" },
      size: 60,
    });
  });

  const series: uPlot.Series[] = [{ label: "time (UTC)" }];
  const data: Values[] = [answer.x];
  const filled: boolean[] = [];
  answer.values.forEach((ys, i) => {
    const d = drawn[i]!;
    const spanned = spanShortGaps(answer.x, ys, gapLimit(answer.x, ys, d.cadence));
    const split = splitByQuality(spanned, answer.quality[i] ?? null);
    series.push({ label: d.label, scale: scaleOf(d.unit), stroke: d.color, width: 2, spanGaps: false });
    data.push(split.measured);
    filled.push(split.filled !== null);
    if (split.filled) {
      series.push({
        label: `${d.label} · carried / interpolated`,
        scale: scaleOf(d.unit),
        stroke: tint(d.color),
        width: 2,
        dash: [6, 4],
        spanGaps: false,
        points: { show: false },
      });
      data.push(split.filled);
    }
  });

  const opts: uPlot.Options = {
    width: size.width,
    height: size.height,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales,
    axes,
    series,
    legend: { live: true },
    cursor: {
      drag: { x: true, y: false, setScale: false },
      bind: { dblclick: () => () => null },
    },
    hooks: {
      setSelect: [
        (u) => {
          const { left, width } = u.select;
          if (width < 3) return;
          const from = u.posToVal(left, "x");
          const to = u.posToVal(left + width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          handlers.onZoom(from, to);
        },
      ],
      draw: [() => handlers.onDraw()],
      ready: [(u) => u.over.addEventListener("dblclick", () => handlers.onZoomOut())],
    },
  };
  const plot = new uPlot(opts, data as uPlot.AlignedData, el);
  return { plot, filled };
}
