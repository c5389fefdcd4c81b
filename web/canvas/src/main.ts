// The Data Canvas: pick series from several sources into one chart, driven only by the public API.

import "./style.css";

import type uPlot from "uplot";

import {
  ApiError,
  alignArrow,
  capabilities,
  entities,
  exportFile,
  pageConfig,
  type AlignQuery,
  type Auth,
  type Capabilities,
  type ExportQuery,
  type PageConfig,
} from "./api";
import { buildChart, PALETTE, type Drawn } from "./chart";
import { readAnswer } from "./data";
import {
  DAY,
  durationSeconds,
  fromLocalInput,
  isoZ,
  keyOf,
  partitionOf,
  readState,
  toLocalInput,
  writeState,
  type ResolutionChoice,
  type SeriesKey,
  type ViewState,
} from "./state";
import { leaves, renderTree, type Leaf } from "./tree";

/** What the page did last, for tests and the benchmark (read with `window.__canvas`). */
interface Probe {
  state: "idle" | "loading" | "drawn" | "empty" | "error" | "token";
  draws: number;
  firstDrawnAt: number | null; // ms since navigation start
  queries: AlignQuery[];
  rows: number;
  filled: boolean[];
  error: string | null;
  capabilities: Capabilities | null;
  plot: uPlot | null;
}

declare global {
  interface Window {
    __canvas: Probe;
  }
}

const probe: Probe = {
  state: "idle",
  draws: 0,
  firstDrawnAt: null,
  queries: [],
  rows: 0,
  filled: [],
  error: null,
  capabilities: null,
  plot: null,
};
window.__canvas = probe;

const TOKEN_KEY = "datahub.canvas.token";
const MIN_SPAN = 1; // seconds
const MAX_SPAN = 366 * DAY;

const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing`);
  return node as T;
};

const ui = {
  tenant: $<HTMLInputElement>("tenant"),
  tokenField: $<HTMLElement>("token-field"),
  token: $<HTMLInputElement>("token"),
  who: $<HTMLFormElement>("who"),
  search: $<HTMLInputElement>("search"),
  tree: $<HTMLElement>("tree"),
  from: $<HTMLInputElement>("from"),
  to: $<HTMLInputElement>("to"),
  presets: $<HTMLElement>("presets"),
  panLeft: $<HTMLButtonElement>("pan-left"),
  panRight: $<HTMLButtonElement>("pan-right"),
  zoomOut: $<HTMLButtonElement>("zoom-out"),
  now: $<HTMLButtonElement>("now"),
  resolution: $<HTMLSelectElement>("resolution"),
  exportFormat: $<HTMLSelectElement>("export-format"),
  exportAggregation: $<HTMLSelectElement>("export-aggregation"),
  exportButton: $<HTMLButtonElement>("export"),
  picked: $<HTMLUListElement>("picked"),
  chart: $<HTMLDivElement>("chart"),
  status: $<HTMLElement>("status"),
};

let config: PageConfig = { dagster_ui_url: "", auth: "none" };
let caps: Capabilities = { minmax: false, quality: false };
let state: ViewState = readState(location.search);
let auth: Auth = { tenant: state.tenant, token: null };
let all: Leaf[] = [];
let byKey = new Map<string, Leaf>();
let plot: uPlot | null = null;
let inflight: AbortController | null = null;
let queried = { width: 0 };

function status(text: string, error = false): void {
  ui.status.textContent = text;
  ui.status.classList.toggle("error", error);
}

function setProbe(next: Probe["state"]): void {
  probe.state = next;
  ui.chart.dataset["state"] = next;
}

// ---- links to the Dagster UI ----------------------------------------------------------------------------

function assetHref(asset: string | null | undefined): string | null {
  if (!asset || !config.dagster_ui_url) return null;
  const path = asset.split("/").map(encodeURIComponent).join("/");
  const query = new URLSearchParams({ view: "partitions", partition: partitionOf(state) });
  return `${config.dagster_ui_url}/assets/${path}?${query.toString()}`;
}

function refreshLinks(): void {
  for (const link of document.querySelectorAll<HTMLAnchorElement>("a[data-asset]")) {
    const href = assetHref(link.dataset["asset"]);
    if (href) link.href = href;
  }
}

// ---- state <-> URL and controls -------------------------------------------------------------------------

function commit(push: boolean): void {
  const url = `${location.pathname}${writeState(state)}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  syncControls();
}

function syncControls(): void {
  ui.from.value = toLocalInput(state.from);
  ui.to.value = toLocalInput(state.to);
  ui.resolution.value = state.res;
  ui.tenant.value = state.tenant ?? "";
  for (const box of ui.tree.querySelectorAll<HTMLInputElement>("input[data-series]")) {
    box.checked = state.series.some((s) => keyOf(s) === box.dataset["series"]);
  }
  renderPicked();
  refreshLinks();
}

function setWindow(from: number, to: number, push = true): void {
  let span = Math.min(Math.max(to - from, MIN_SPAN), MAX_SPAN);
  if (!Number.isFinite(span)) span = DAY;
  state = { ...state, from: Math.round(from), to: Math.round(from + span) };
  commit(push);
  void query();
}

function colorOf(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

function labelOf(key: SeriesKey): string {
  const leaf = byKey.get(keyOf(key));
  return `${leaf?.entity.name ?? key.entity}.${key.attribute}`;
}

function renderPicked(): void {
  ui.picked.replaceChildren();
  state.series.forEach((key, i) => {
    const leaf = byKey.get(keyOf(key));
    const item = document.createElement("li");
    item.dataset["series"] = keyOf(key);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colorOf(i);
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = labelOf(key);
    name.title = `${key.entity}.${key.attribute}`;
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = [key.source, leaf?.attribute.unit].filter(Boolean).join(" · ");
    item.append(swatch, name, meta);
    const asset = leaf?.attribute.asset;
    const href = assetHref(asset);
    if (asset && href) {
      const link = document.createElement("a");
      link.className = "asset";
      link.textContent = "asset";
      link.dataset["asset"] = asset;
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener";
      link.title = `${asset}, partition ${partitionOf(state)}, in the Dagster UI`;
      item.append(link);
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove";
    remove.textContent = "×";
    remove.title = "remove from the view";
    remove.addEventListener("click", () => toggle(key, false));
    item.append(remove);
    ui.picked.append(item);
  });
}

function toggle(key: SeriesKey, on: boolean): void {
  const k = keyOf(key);
  const rest = state.series.filter((s) => keyOf(s) !== k);
  state = { ...state, series: on ? [...rest, key] : rest };
  commit(true);
  void query();
}

function drawTree(): void {
  renderTree(ui.tree, all, {
    selected: new Set(state.series.map(keyOf)),
    search: ui.search.value,
    assetLink: (leaf) => assetHref(leaf.attribute.asset),
    onToggle: (leaf, on) => toggle(leaf.key, on),
  });
  for (const link of ui.tree.querySelectorAll<HTMLAnchorElement>("a.asset")) {
    const box = link.parentElement?.querySelector<HTMLInputElement>("input[data-series]");
    const leaf = box ? byKey.get(box.dataset["series"] ?? "") : undefined;
    if (leaf?.attribute.asset) link.dataset["asset"] = leaf.attribute.asset;
  }
}

// ---- the chart ----------------------------------------------------------------------------------------

/** Pixel columns of the plot area (the chart's width less its y axes). */
function plotColumns(units: number): number {
  const width = ui.chart.clientWidth || 800;
  return Math.max(50, Math.round(width - 60 * Math.max(units, 1) - 20));
}

/** Resolution and method of the align request. `auto`: the series' raw points when they fit in the
 * screen's pixel columns, else one bucket per pixel column, min and max kept (`minmax`, or `mean` where
 * the API does not offer it). Fixed steps are bucket means; `raw` carries values forward. */
function plan(view: ViewState, cadences: (number | null)[], columns: number): Pick<AlignQuery, "resolution" | "method"> {
  if (view.res === "raw") return { resolution: "raw", method: "locf" };
  if (view.res !== "auto") return { resolution: view.res, method: "mean" };
  const span = view.to - view.from;
  const points = Math.max(...cadences.map((c) => (c ? span / c : Number.POSITIVE_INFINITY)));
  if (points <= columns) return { resolution: "raw", method: "locf" };
  return { resolution: columns, method: caps.minmax ? "minmax" : "mean" };
}

function chartSize(): { width: number; height: number } {
  const top = ui.chart.getBoundingClientRect().top;
  return {
    width: ui.chart.clientWidth || 800,
    height: Math.max(320, Math.round(window.innerHeight - top - 48)),
  };
}

function clearChart(): void {
  plot?.destroy();
  plot = null;
  probe.plot = null;
}

async function query(): Promise<void> {
  inflight?.abort();
  const series = state.series.filter((s) => byKey.has(keyOf(s)));
  if (series.length === 0) {
    inflight = null;
    clearChart();
    setProbe("idle");
    status(all.length ? "Pick series in the tree to draw them." : "");
    return;
  }
  const controller = new AbortController();
  inflight = controller;
  const units = new Set(series.map((s) => byKey.get(keyOf(s))?.attribute.unit ?? null)).size;
  const columns = plotColumns(units);
  const cadences = series.map((s) => durationSeconds(byKey.get(keyOf(s))?.attribute.cadence));
  const body: AlignQuery = {
    series: series.map((s) => ({ entity_id: s.entity, attribute: s.attribute, source: s.source })),
    start_time: isoZ(state.from),
    end_time: isoZ(state.to),
    ...plan(state, cadences, columns),
  };
  if (caps.quality) body.quality = true;
  setProbe("loading");
  status("Loading…");
  const started = performance.now();
  try {
    const table = await alignWithFallback(body, controller.signal);
    if (controller.signal.aborted) return;
    queried = { width: ui.chart.clientWidth };
    const took = Math.round(performance.now() - started);
    if (!table) {
      clearChart();
      probe.rows = 0;
      setProbe("empty");
      status(`No reading in this window (${series.length} series).`);
      return;
    }
    const answer = readAnswer(table);
    const drawn: Drawn[] = series.map((s, i) => ({
      label: labelOf(s),
      color: colorOf(Math.max(0, state.series.findIndex((t) => keyOf(t) === keyOf(s)))),
      unit: byKey.get(keyOf(s))?.attribute.unit ?? null,
      cadence: cadences[i] ?? null,
    }));
    clearChart();
    const built = buildChart(ui.chart, answer, drawn, { from: state.from, to: state.to }, chartSize(), {
      onZoom: (from, to) => setWindow(from, to),
      onZoomOut: () => zoomOut(),
      onDraw: () => {
        probe.draws += 1;
        probe.firstDrawnAt ??= performance.now();
      },
    });
    plot = built.plot;
    probe.plot = plot;
    probe.rows = answer.x.length;
    probe.filled = built.filled;
    setProbe("drawn");
    const last = probe.queries[probe.queries.length - 1];
    const how = typeof last?.resolution === "number"
      ? `${last.method} over ${last.resolution} columns`
      : `${last?.method} at ${last?.resolution}`;
    const filled = built.filled.some(Boolean) ? " · dashed: carried / interpolated" : "";
    status(`${series.length} series · ${answer.x.length.toLocaleString("en")} rows · ${how} · ${took} ms${filled}`);
  } catch (err) {
    if (controller.signal.aborted || (err instanceof DOMException && err.name === "AbortError")) return;
    clearChart();
    probe.error = err instanceof Error ? err.message : String(err);
    setProbe("error");
    status(probe.error, true);
  }
}

/** Align; a 422 for `minmax` or `quality` (an API without them) is answered by asking without them. */
async function alignWithFallback(body: AlignQuery, signal: AbortSignal): ReturnType<typeof alignArrow> {
  probe.queries.push(body);
  try {
    return await alignArrow(auth, body, signal);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 422) throw err;
    if (body.method === "minmax" && /^method/.test(err.message)) {
      caps = { ...caps, minmax: false };
      return alignWithFallback({ ...body, method: "mean" }, signal);
    }
    if (body.quality && /^quality/.test(err.message)) {
      caps = { ...caps, quality: false };
      const { quality: _dropped, ...rest } = body;
      return alignWithFallback(rest, signal);
    }
    throw err;
  }
}

function zoomOut(): void {
  const span = state.to - state.from;
  const mid = (state.from + state.to) / 2;
  setWindow(mid - span, mid + span);
}

// ---- export ----------------------------------------------------------------------------------------------

function save(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A presigned link of another host (S3): opened beside the page, which stays as it is. */
function follow(url: string): void {
  const a = document.createElement("a");
  a.href = url;
  a.target = "_blank";
  a.rel = "noopener";
  document.body.append(a);
  a.click();
  a.remove();
}

async function exportView(): Promise<void> {
  const series = state.series.filter((s) => byKey.has(keyOf(s)));
  if (series.length === 0) {
    status("Pick series to export.", true);
    return;
  }
  const format = ui.exportFormat.value as ExportQuery["format"];
  const aggregation = ui.exportAggregation.value as ExportQuery["aggregation"];
  const body: ExportQuery = {
    series: series.map((s) => ({ entity_id: s.entity, attribute: s.attribute, source: s.source })),
    start_time: isoZ(state.from),
    end_time: isoZ(state.to),
    aggregation,
    format,
  };
  status(`Exporting ${format.toUpperCase()} (${aggregation})…`);
  try {
    const file = await exportFile(auth, body);
    if (!file) {
      status("No reading in this window: nothing to export.");
      return;
    }
    const stamp = (t: number): string => isoZ(t).replace(/[-:]/g, "");
    const name = `datahub_${stamp(state.from)}_${stamp(state.to)}.${format}`;
    if (file.blob) save(file.blob, name);
    else if (file.url) follow(file.url);
    status(`Exported ${name}`);
  } catch (err) {
    status(err instanceof Error ? err.message : String(err), true);
  }
}

// ---- wiring ----------------------------------------------------------------------------------------------

function bind(): void {
  ui.search.addEventListener("input", () => drawTree());
  const onWindowInput = (): void => {
    const from = fromLocalInput(ui.from.value);
    const to = fromLocalInput(ui.to.value);
    if (from !== null && to !== null && from < to) setWindow(from, to);
    else status("The window must end after it starts.", true);
  };
  ui.from.addEventListener("change", onWindowInput);
  ui.to.addEventListener("change", onWindowInput);
  ui.presets.addEventListener("click", (event) => {
    const span = Number((event.target as HTMLElement).dataset["span"]);
    if (span > 0) setWindow(state.to - span, state.to);
  });
  ui.panLeft.addEventListener("click", () => {
    const half = (state.to - state.from) / 2;
    setWindow(state.from - half, state.to - half);
  });
  ui.panRight.addEventListener("click", () => {
    const half = (state.to - state.from) / 2;
    setWindow(state.from + half, state.to + half);
  });
  ui.zoomOut.addEventListener("click", () => zoomOut());
  ui.now.addEventListener("click", () => {
    const end = Math.ceil(Date.now() / 60_000) * 60;
    setWindow(end - (state.to - state.from), end);
  });
  ui.resolution.addEventListener("change", () => {
    state = { ...state, res: ui.resolution.value as ResolutionChoice };
    commit(true);
    void query();
  });
  ui.exportButton.addEventListener("click", () => void exportView());
  ui.who.addEventListener("submit", (event) => {
    event.preventDefault();
    const tenant = ui.tenant.value.trim() || null;
    if (tenant && !/^[A-Za-z0-9_-]{1,64}$/.test(tenant)) {
      status("A tenant is 1 to 64 of A-Z, a-z, 0-9, _ and -.", true);
      return;
    }
    const token = ui.token.value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    const changed = tenant !== state.tenant;
    state = { ...state, tenant, series: changed ? [] : state.series };
    commit(true);
    void load();
  });
  window.addEventListener("popstate", () => {
    const before = state.tenant;
    state = readState(location.search);
    syncControls();
    if (state.tenant !== before) void load();
    else void query();
  });
  let timer = 0;
  new ResizeObserver(() => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => {
      if (!plot) return;
      plot.setSize(chartSize());
      const width = ui.chart.clientWidth;
      if (state.res === "auto" && queried.width && Math.abs(width - queried.width) / queried.width > 0.1) {
        void query();
      }
    }, 150);
  }).observe(ui.chart);
}

function takeToken(): string | null {
  const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
  const given = hash.get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    history.replaceState(null, "", `${location.pathname}${location.search}`);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Loads the tenant's entities, then draws the view. */
async function load(): Promise<void> {
  auth = { tenant: state.tenant, token: config.auth === "bearer" ? takeToken() : null };
  ui.tokenField.hidden = config.auth !== "bearer";
  if (config.auth === "bearer" && !auth.token) {
    all = [];
    byKey = new Map();
    drawTree();
    clearChart();
    setProbe("token");
    status("This API needs a bearer token: enter it above (it stays in this tab).");
    return;
  }
  try {
    all = leaves(await entities(auth));
  } catch (err) {
    all = [];
    byKey = new Map();
    drawTree();
    status(err instanceof Error ? err.message : String(err), true);
    setProbe("error");
    return;
  }
  byKey = new Map(all.map((leaf) => [keyOf(leaf.key), leaf]));
  const unknown = state.series.filter((s) => !byKey.has(keyOf(s)));
  if (unknown.length) {
    state = { ...state, series: state.series.filter((s) => byKey.has(keyOf(s))) };
  }
  commit(false);
  const drawing = query(); // the request goes out first; the tree is built while it is answered
  drawTree();
  await drawing;
  if (unknown.length) {
    status(`Not offered to this tenant, left out: ${unknown.map((s) => `${s.entity}.${s.attribute}`).join(", ")}`, true);
  }
}

async function main(): Promise<void> {
  syncControls();
  bind();
  try {
    [config, caps] = await Promise.all([pageConfig(), capabilities()]);
  } catch (err) {
    status(err instanceof Error ? err.message : String(err), true);
    setProbe("error");
    return;
  }
  probe.capabilities = caps;
  await load();
}

void main();
