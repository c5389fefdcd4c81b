// The public API, and nothing else: entities, align (Arrow IPC), export, and the OpenAPI document.

import { tableFromIPC, type Table } from "@uwdata/flechette";

export const ARROW = "application/vnd.apache.arrow.stream";

// Relative to the page (served at <api>/canvas/), so the page works behind a path prefix too.
const base = new URL("../", document.baseURI);
export const apiUrl = (path: string): URL => new URL(path.replace(/^\//, ""), base);

export interface Attribute {
  name: string;
  source: string;
  unit: string | null;
  asset?: string | null;
  cadence?: string | null;
}

export interface Entity {
  id: string;
  type: string;
  name: string;
  source: string;
  attributes: Attribute[];
}

export interface PageConfig {
  dagster_ui_url: string;
  auth: "bearer" | "none";
}

export interface Capabilities {
  minmax: boolean;
  quality: boolean;
}

export interface Auth {
  tenant: string | null;
  token: string | null;
}

export interface SeriesRef {
  entity_id: string;
  attribute: string;
  source: string;
}

export interface AlignQuery {
  series: SeriesRef[];
  start_time: string;
  end_time: string;
  resolution: string | number;
  method: string;
  quality?: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function headers(auth: Auth, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { ...extra };
  if (auth.tenant) out["X-Tenant-ID"] = auth.tenant;
  if (auth.token) out["Authorization"] = `Bearer ${auth.token}`;
  return out;
}

async function failure(response: Response): Promise<ApiError> {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body: unknown = await response.json();
    if (body && typeof body === "object" && "error" in body) message = String((body as { error: unknown }).error);
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

export async function pageConfig(): Promise<PageConfig> {
  const response = await fetch(new URL("config.json", document.baseURI));
  if (!response.ok) throw await failure(response);
  return (await response.json()) as PageConfig;
}

export async function entities(auth: Auth): Promise<Entity[]> {
  const response = await fetch(apiUrl("api/datahub/entities"), { headers: headers(auth) });
  if (!response.ok) throw await failure(response);
  const body = (await response.json()) as { entities: Entity[] };
  return body.entities;
}

type Json = { [key: string]: unknown };

function resolveRef(doc: Json, node: unknown): unknown {
  if (node && typeof node === "object" && "$ref" in node) {
    const ref = String((node as Json)["$ref"]);
    let target: unknown = doc;
    for (const part of ref.replace(/^#\//, "").split("/")) target = (target as Json | undefined)?.[part];
    return target;
  }
  return node;
}

function enumValues(doc: Json, node: unknown, depth = 0): string[] {
  const resolved = resolveRef(doc, node);
  if (!resolved || typeof resolved !== "object" || depth > 6) return [];
  const obj = resolved as Json;
  const out: string[] = [];
  if (Array.isArray(obj["enum"])) out.push(...obj["enum"].map(String));
  if (typeof obj["const"] === "string") out.push(obj["const"]);
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    const list = obj[key];
    if (Array.isArray(list)) for (const item of list) out.push(...enumValues(doc, item, depth + 1));
  }
  return out;
}

/** What this API's align accepts, read from its OpenAPI document: asking only for what it lists keeps
 * the page free of refused requests (and console errors) before and after a feature lands. */
export async function capabilities(): Promise<Capabilities> {
  try {
    const response = await fetch(apiUrl("openapi.json"));
    if (!response.ok) return { minmax: false, quality: false };
    const doc = (await response.json()) as Json;
    const schemas = ((doc["components"] as Json | undefined)?.["schemas"] ?? {}) as Json;
    const align = resolveRef(doc, schemas["AlignRequest"]) as Json | undefined;
    const properties = (align?.["properties"] ?? {}) as Json;
    return {
      minmax: enumValues(doc, properties["method"]).includes("minmax"),
      quality: "quality" in properties,
    };
  } catch {
    return { minmax: false, quality: false };
  }
}

/** The aligned grid as an Arrow table, or null for "no reading in the window" (204). */
export async function alignArrow(auth: Auth, query: AlignQuery, signal?: AbortSignal): Promise<Table | null> {
  const response = await fetch(apiUrl("api/datahub/timeseries/align"), {
    method: "POST",
    headers: headers(auth, { "Content-Type": "application/json", Accept: ARROW }),
    body: JSON.stringify(query),
    signal,
  });
  if (response.status === 204) return null;
  if (!response.ok) throw await failure(response);
  return tableFromIPC(new Uint8Array(await response.arrayBuffer()));
}

export interface ExportQuery {
  series: SeriesRef[];
  start_time: string;
  end_time: string;
  aggregation: "raw" | "1 hour" | "1 day";
  format: "csv" | "parquet";
}

export interface Download {
  blob: Blob | null; // the file, when the page can hand it over itself
  url: string | null; // else a link to follow (a presigned S3 URL of another host)
}

export async function exportFile(auth: Auth, query: ExportQuery): Promise<Download | null> {
  const response = await fetch(apiUrl("api/datahub/export"), {
    method: "POST",
    headers: headers(auth, { "Content-Type": "application/json" }),
    body: JSON.stringify(query),
  });
  if (response.status === 204) return null;
  if (!response.ok) throw await failure(response);
  if (query.format === "csv") return { blob: await response.blob(), url: null };
  const link = (await response.json()) as { download_url: string };
  const target = new URL(link.download_url, document.baseURI);
  if (target.origin !== location.origin) return { blob: null, url: target.href };
  // A link of this API: it is tenant-scoped, so fetch it with the same headers.
  const file = await fetch(target, { headers: headers(auth) });
  if (!file.ok) throw await failure(file);
  return { blob: await file.blob(), url: null };
}
