"""A small NGSI-LD broker for tests: the temporal retrieval of one entity and the entity query, answering in
the spec's shapes (normalized or `options=temporalValues`) and paging temporal instances with
206 Partial Content + `Content-Range: date-time <start>-<end>/*`, as Mintaka and Stellio do.

Served by pytest-httpserver: `server.expect_request(PATHS).respond_with_handler(broker.handle)`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from werkzeug import Request, Response

PATHS = re.compile(r"^/ngsi-ld/v1/.*")
TEMPORAL = "/ngsi-ld/v1/temporal/entities/"
ENTITIES = "/ngsi-ld/v1/entities"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Broker:
    """Entities -> attribute -> [(observedAt, value)], plus `types` for the entity query.

    `limit` is the most instances of an attribute one answer holds (beyond: 206); `single` answers an attribute
    with one instance as an object rather than a list (normalized shape only)."""

    data: dict[str, dict[str, list[tuple[datetime, Any]]]] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)  # other members the entity query shows
    limit: int = 1000
    single: bool = False
    asked: list[dict[str, Any]] = field(default_factory=list)  # every request: path, entity, query, headers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, entity: str, attribute: str, readings: list[tuple[datetime, Any]], type_: str = "Device") -> None:
        self.data.setdefault(entity, {})[attribute] = readings
        self.types[entity] = type_

    def handle(self, request: Request) -> Response:
        raw = str(request.environ.get("RAW_URI") or request.environ["REQUEST_URI"])
        path, _, query_text = raw.partition("?")
        query = dict(parse_qsl(query_text, keep_blank_values=True))
        record: dict[str, Any] = {"raw": raw, "query": query, "headers": dict(request.headers)}
        if path.startswith(TEMPORAL):
            segment = path[len(TEMPORAL):]
            record["entity"] = unquote(segment)
            with self.lock:
                self.asked.append(record)
            if "/" in segment:
                return _json({"type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"}, 400)
            return self._temporal(unquote(segment), query)
        if path == ENTITIES:
            with self.lock:
                self.asked.append(record)
            return self._entities(query)
        return _json({"type": "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"}, 404)

    def _temporal(self, entity: str, query: dict[str, str]) -> Response:
        if entity not in self.data:
            return _json({"type": "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound", "title": "no entity"},
                         404)
        if query.get("timerel") != "between" or "lastN" in query:
            return _json({"type": "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"}, 400)
        time_at = datetime.fromisoformat(query["timeAt"])
        end_time_at = datetime.fromisoformat(query["endTimeAt"])
        simplified = "temporalValues" in query.get("options", "").split(",")
        body: dict[str, Any] = {"id": entity, "type": self.types[entity]}
        limited: list[datetime] = []
        for attribute in query.get("attrs", "").split(","):
            readings = sorted((r for r in self.data[entity].get(attribute, []) if time_at <= r[0] < end_time_at),
                              key=lambda r: r[0])
            if not readings:
                continue
            if len(readings) > self.limit:
                readings = readings[: self.limit]
                limited.append(readings[-1][0])
            if simplified:
                body[attribute] = {"type": "Property", "values": [[v, iso(t)] for t, v in readings]}
            else:
                instances = [{"type": "Property", "value": v, "observedAt": iso(t)} for t, v in readings]
                body[attribute] = instances[0] if self.single and len(instances) == 1 else instances
        if limited:
            return _json(body, 206, {"Content-Range": f"date-time {iso(time_at)}-{iso(min(limited))}/*"})
        return _json(body)

    def _entities(self, query: dict[str, str]) -> Response:
        wanted = set(query.get("type", "").split(","))
        limit, offset = int(query.get("limit", "20")), int(query.get("offset", "0"))
        matching = [e for e in self.data if self.types[e] in wanted]
        page = []
        for entity in matching[offset: offset + limit]:
            body: dict[str, Any] = {"id": entity, "type": self.types[entity],
                                    "location": {"type": "GeoProperty",
                                                 "value": {"type": "Point", "coordinates": [0, 0]}}}
            for attribute, readings in self.data[entity].items():
                t, v = readings[-1]
                body[attribute] = {"type": "Property", "value": v, "observedAt": iso(t)}
            body.update(self.members.get(entity, {}))
            page.append(body)
        return _json(page)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")
