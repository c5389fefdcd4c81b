// The view's state lives in the URL, so a view can be shared:
//   ?s=<source>|<entity>|<attribute>   (repeated, in drawing order)
//   &from=<ISO-8601 Z>&to=<ISO-8601 Z>&res=auto|raw|1m|1h|1d&tenant=<id>

export const RESOLUTIONS = ["auto", "raw", "1m", "1h", "1d"] as const;
export type ResolutionChoice = (typeof RESOLUTIONS)[number];

export interface SeriesKey {
  source: string;
  entity: string;
  attribute: string;
}

export interface ViewState {
  series: SeriesKey[];
  from: number; // epoch seconds, UTC
  to: number;
  res: ResolutionChoice;
  tenant: string | null;
}

export const DAY = 86_400;

export const keyOf = (s: SeriesKey): string => `${s.source}|${s.entity}|${s.attribute}`;

export function parseKey(text: string): SeriesKey | null {
  const first = text.indexOf("|");
  const last = text.lastIndexOf("|");
  if (first <= 0 || last <= first + 1 || last === text.length - 1) return null;
  return { source: text.slice(0, first), entity: text.slice(first + 1, last), attribute: text.slice(last + 1) };
}

export function parseInstant(text: string | null): number | null {
  if (!text) return null;
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  const withZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(text) ? text : `${text}Z`;
  const ms = Date.parse(withZone);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

export function isoZ(seconds: number): string {
  const text = new Date(Math.round(seconds * 1000)).toISOString();
  return text.replace(/\.000Z$/, "Z");
}

function defaultEnd(now: number): number {
  return Math.ceil(now / 60) * 60;
}

export function readState(search: string, now = Date.now() / 1000): ViewState {
  const params = new URLSearchParams(search);
  const series: SeriesKey[] = [];
  const seen = new Set<string>();
  for (const text of params.getAll("s")) {
    const key = parseKey(text);
    if (key && !seen.has(keyOf(key))) {
      seen.add(keyOf(key));
      series.push(key);
    }
  }
  let to = parseInstant(params.get("to")) ?? defaultEnd(now);
  let from = parseInstant(params.get("from")) ?? to - DAY;
  if (!(from < to)) {
    from = Math.min(from, to);
    to = from + DAY;
  }
  const res = params.get("res") ?? "auto";
  const tenant = params.get("tenant");
  return {
    series,
    from,
    to,
    res: (RESOLUTIONS as readonly string[]).includes(res) ? (res as ResolutionChoice) : "auto",
    tenant: tenant && /^[A-Za-z0-9_-]{1,64}$/.test(tenant) ? tenant : null,
  };
}

export function writeState(state: ViewState): string {
  const params = new URLSearchParams();
  for (const s of state.series) params.append("s", keyOf(s));
  params.set("from", isoZ(state.from));
  params.set("to", isoZ(state.to));
  if (state.res !== "auto") params.set("res", state.res);
  if (state.tenant) params.set("tenant", state.tenant);
  return `?${params.toString()}`;
}

/** `2017-01-02T00:00:00Z` <-> the value of an `<input type="datetime-local">` read as UTC. */
export function toLocalInput(seconds: number): string {
  return isoZ(seconds).replace(/Z$/, "").slice(0, 19);
}

export function fromLocalInput(value: string): number | null {
  return value ? parseInstant(`${value}Z`) : null;
}

/** The daily partition holding the window's last instant (`YYYY-MM-DD`). */
export function partitionOf(state: ViewState): string {
  return isoZ(Math.max(state.from, state.to - 0.001)).slice(0, 10);
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: DAY };

export function durationSeconds(text: string | null | undefined): number | null {
  const match = text ? /^\s*(\d+)\s*(ms|s|m|h|d)\s*$/.exec(text) : null;
  return match ? Number(match[1]) * (UNITS[match[2] ?? "s"] ?? 1) : null;
}
