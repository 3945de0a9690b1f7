"""The routes of the catalog (sim/pagerduty/catalog.py), served by PagerDutySim.route:

    GET /business_services, /business_services/{id}
    GET /service_dependencies/business_services/{id}, .../technical_services/{id}
    GET /vendors[?query], /vendors/{id}
    GET /tags[?query], /tags/{id}, /tags/{id}/users|teams|escalation_policies
    GET /users|teams|escalation_policies/{id}/tags
    GET /maintenance_windows[?filter&service_ids[]&team_ids[]&query], /maintenance_windows/{id}

Listings page like the others (limit, offset, more, total); an unknown id is KeyError, the
server's 404.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sim._http import json_response
from sim.pagerduty import catalog_views as cv
from sim.pagerduty.objects import by_name
from sim.pagerduty.vendors import VENDORS

if TYPE_CHECKING:
    from sim.pagerduty.server import PagerDutySim

# the path's plural -> a tagged object's kind
TAGGED_KINDS = {"users": "user", "teams": "team", "escalation_policies": "escalation_policy"}
# /service_dependencies/<this>/{id} -> the kind of service it names
DEPENDENCY_KINDS = {"business_services": "business_service", "technical_services": "service"}
ROOTS = ("business_services", "service_dependencies", "vendors", "tags", "maintenance_windows")


def route(sim: PagerDutySim, request: Request, parts: list[str]) -> Response | None:
    """The answer to a catalog path, or None when `parts` is not one."""
    if len(parts) == 3 and parts[0] in TAGGED_KINDS and parts[2] == "tags":
        tags = sim.account.tags_of(TAGGED_KINDS[parts[0]], parts[1])
        return sim._page(request, "tags", tags, cv.tag_json)
    if parts[0] not in ROOTS:
        return None
    handler = {
        "business_services": _business_services,
        "service_dependencies": _dependencies,
        "vendors": _vendors,
        "tags": _tags,
        "maintenance_windows": _maintenance_windows,
    }[parts[0]]
    return handler(sim, request, parts[1:])


def _business_services(sim: PagerDutySim, request: Request, rest: list[str]) -> Response | None:
    a = sim.account
    if not rest:
        items = sorted(a.catalog.business_services.values(), key=by_name)
        return sim._page(
            request, "business_services", items, lambda b: cv.business_service_json(a, b)
        )
    if len(rest) == 1:
        bs = a.catalog.business_services[rest[0]]
        return json_response({"business_service": cv.business_service_json(a, bs)})
    return None


def _dependencies(sim: PagerDutySim, request: Request, rest: list[str]) -> Response | None:
    """Every relationship the service is either end of: what it depends on, what depends
    on it (the spec's examples show both). Not paginated."""
    if len(rest) != 2 or rest[0] not in DEPENDENCY_KINDS:
        return None
    node = (DEPENDENCY_KINDS[rest[0]], rest[1])
    if not sim.account.node_exists(node):
        raise KeyError(rest[1])
    deps = sim.account.dependencies_of(node)
    return json_response({"relationships": [cv.dependency_json(d) for d in deps]})


def _vendors(sim: PagerDutySim, request: Request, rest: list[str]) -> Response | None:
    """`GET /vendors/{id}` answers `{"vendor": {...}}`, an object: the spec's schema and
    example wrap it in an array, but PagerDuty's own client (go-pagerduty's GetVendor)
    reads an object, as every other `GET /{kind}/{id}` answers."""
    if not rest:
        query = (request.args.get("query") or "").lower()
        items = [v for v in VENDORS.values() if query in v["name"].lower()]
        return sim._page(request, "vendors", sorted(items, key=by_name), dict)
    if len(rest) == 1:
        return json_response({"vendor": dict(VENDORS[rest[0]])})
    return None


def _tags(sim: PagerDutySim, request: Request, rest: list[str]) -> Response | None:
    a = sim.account
    if not rest:
        query = (request.args.get("query") or "").lower()
        tags = [t for t in a.catalog.tags.values() if query in t["label"].lower()]
        tags.sort(key=lambda t: (t["label"].lower(), t["id"]))
        return sim._page(request, "tags", tags, cv.tag_json)
    tag = a.catalog.tags[rest[0]]
    if len(rest) == 1:
        return json_response({"tag": cv.tag_json(tag)})
    if len(rest) == 2 and rest[1] in TAGGED_KINDS:
        refs = cv.tagged_refs(a, tag["id"], TAGGED_KINDS[rest[1]])
        return sim._page(request, rest[1], refs, _same)
    return None


def _maintenance_windows(sim: PagerDutySim, request: Request, rest: list[str]) -> Response | None:
    """`filter`: past, future, ongoing, open (ongoing and future) or all, the default."""
    a, args = sim.account, request.args
    if len(rest) == 1:
        window = a.catalog.maintenance_windows[rest[0]]
        return json_response({"maintenance_window": cv.window_json(a, window)})
    if rest:
        return None
    state = args.get("filter", "all")
    if state not in cv.WINDOW_FILTERS:
        return sim._invalid(f"filter must be one of {', '.join(cv.WINDOW_FILTERS)}")
    windows = cv.maintenance_windows(
        a, state, args.getlist("service_ids[]"), args.getlist("team_ids[]"), args.get("query")
    )
    return sim._page(request, "maintenance_windows", windows, lambda w: cv.window_json(a, w))


def _same(obj: dict[str, Any]) -> dict[str, Any]:
    return obj
