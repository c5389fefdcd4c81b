// The entity tree: source -> entity -> attribute, searchable; a checkbox per series and a link to its asset.

import type { Attribute, Entity } from "./api";
import { keyOf, type SeriesKey } from "./state";

export interface Leaf {
  key: SeriesKey;
  entity: Entity;
  attribute: Attribute;
}

export function leaves(entities: Entity[]): Leaf[] {
  const out: Leaf[] = [];
  for (const entity of entities) {
    for (const attribute of entity.attributes) {
      out.push({ key: { source: attribute.source, entity: entity.id, attribute: attribute.name }, entity, attribute });
    }
  }
  return out;
}

function matches(leaf: Leaf, terms: string[]): boolean {
  const { entity, attribute } = leaf;
  const text = [attribute.source, entity.id, entity.name, entity.type, attribute.name, attribute.unit ?? ""]
    .join(" ")
    .toLowerCase();
  return terms.every((t) => text.includes(t));
}

export interface TreeOptions {
  selected: Set<string>;
  search: string;
  assetLink: (leaf: Leaf) => string | null;
  onToggle: (leaf: Leaf, on: boolean) => void;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function renderTree(root: HTMLElement, all: Leaf[], options: TreeOptions): number {
  const terms = options.search.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = all.filter((leaf) => matches(leaf, terms));
  const bySource = new Map<string, Map<string, Leaf[]>>();
  for (const leaf of shown) {
    const entities = bySource.get(leaf.key.source) ?? new Map<string, Leaf[]>();
    bySource.set(leaf.key.source, entities);
    const list = entities.get(leaf.entity.id) ?? [];
    entities.set(leaf.entity.id, list);
    list.push(leaf);
  }
  root.replaceChildren();
  if (shown.length === 0) {
    root.append(el("p", "empty", all.length === 0 ? "No entities for this tenant." : "Nothing matches."));
    return 0;
  }
  for (const [source, entities] of [...bySource].sort(([a], [b]) => a.localeCompare(b))) {
    const group = el("details", "source");
    group.open = true;
    group.dataset["source"] = source;
    const count = [...entities.values()].reduce((n, l) => n + l.length, 0);
    const summary = el("summary", undefined, source);
    summary.append(el("span", "count", String(count)));
    group.append(summary);
    for (const [entityId, list] of [...entities].sort(([a], [b]) => a.localeCompare(b))) {
      const entity = list[0]!.entity;
      const box = el("div", "entity");
      box.dataset["entity"] = entityId;
      const head = el("div", "entity-name", entity.name);
      head.title = `${entity.id} (${entity.type})`;
      box.append(head);
      for (const leaf of list) {
        const row = el("div", "attr");
        const label = el("label");
        const check = el("input");
        check.type = "checkbox";
        check.dataset["series"] = keyOf(leaf.key);
        check.checked = options.selected.has(keyOf(leaf.key));
        check.addEventListener("change", () => options.onToggle(leaf, check.checked));
        label.append(check, el("span", "attr-name", leaf.attribute.name));
        if (leaf.attribute.unit) label.append(el("span", "unit", leaf.attribute.unit));
        row.append(label);
        const href = options.assetLink(leaf);
        if (href) {
          const link = el("a", "asset", "asset");
          link.href = href;
          link.target = "_blank";
          link.rel = "noopener";
          link.title = `${leaf.attribute.asset} in the Dagster UI`;
          row.append(link);
        }
        box.append(row);
      }
      group.append(box);
    }
    root.append(group);
  }
  return shown.length;
}
