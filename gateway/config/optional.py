"""Optional upstreams: enabled only when their `base_url` is configured.

An upstream declared `optional: true` in routes.yaml whose `base_url` names an unset
environment variable is left out of the running config: its other unset variables are
not errors, the routes to it disappear, and the gateway says so once per load (see
`GatewayConfig.disabled`). So someone with one vendor sets that vendor's variables
only. An unset variable anywhere else, including elsewhere in an enabled optional
upstream, is still an error, and every such variable is named in one run.
"""

from __future__ import annotations

from typing import Any

from .source import Source

__all__ = ["drop_disabled_upstreams"]


def drop_disabled_upstreams(source: Source) -> dict[str, str]:
    """Remove disabled optional upstreams and their routes from `source` (data and line
    table), raise for every other unset variable; upstream name → the unset variable."""
    data = source.data if isinstance(source.data, dict) else {}
    upstreams = data.get("upstreams")
    if not isinstance(upstreams, dict):
        source.raise_missing()
        return {}
    disabled = {}
    for name, settings in upstreams.items():
        if isinstance(settings, dict) and settings.get("optional") is True:
            unset = [m.name for m in source.missing if m.path == ("upstreams", name, "base_url")]
            if unset:
                disabled[name] = unset[0]
    source.raise_missing(ignore=lambda path: path[:1] == ("upstreams",) and len(path) > 1
                         and path[1] in disabled)
    if disabled and len(disabled) == len(upstreams):
        raise source.error(("upstreams",), "every upstream is optional and unconfigured: set "
                           + " or ".join(sorted(disabled.values())))
    for name in disabled:
        del upstreams[name]
    routes = data.get("routes")
    if isinstance(routes, list):
        kept = [i for i, route in enumerate(routes)
                if not (isinstance(route, dict) and route.get("upstream") in disabled)]
        data["routes"] = [routes[i] for i in kept]
        _renumber(source, ("routes",), kept)
    return disabled


def _renumber(source: Source, where: tuple[Any, ...], kept: list[int]) -> None:
    """Keep `line_of()` right for list items that moved up when others were removed."""
    new_index = {old: new for new, old in enumerate(kept)}
    depth = len(where)
    lines = {}
    for path, line in source.lines.items():
        if path[:depth] != where or len(path) == depth:
            lines[path] = line
        elif path[depth] in new_index:
            lines[(*where, new_index[path[depth]], *path[depth + 1:])] = line
    source.lines = lines
