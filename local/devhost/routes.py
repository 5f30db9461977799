"""Match request paths against Functions route templates (``orders/{id:int}/{rest?}``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Route constraints the Functions host (ASP.NET routing) understands, as regexes.
_CONSTRAINTS = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
    "decimal": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "float": r"-?\d+(?:\.\d+)?",
}
_PARAM = re.compile(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?(\?)?\}")


@dataclass(frozen=True)
class RoutePattern:
    """A compiled route template; more literal segments sort first."""

    template: str
    regex: re.Pattern[str]
    literal_segments: int

    def match(self, path: str) -> dict[str, str] | None:
        """Return the route parameters if ``path`` matches, else None."""
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {k: v for k, v in found.groupdict().items() if v is not None}


def _segment_regex(segment: str) -> str:
    out, pos = [], 0
    for param in _PARAM.finditer(segment):
        out.append(re.escape(segment[pos : param.start()]))
        catch_all, name, constraint, optional = param.groups()
        if constraint is not None and constraint.lower() not in _CONSTRAINTS:
            raise ValueError(f"unsupported route constraint {constraint!r}")
        body = ".*" if catch_all else _CONSTRAINTS.get((constraint or "").lower(), r"[^/]+")
        out.append(f"(?P<{name}>{body}){'?' if optional or catch_all else ''}")
        pos = param.end()
    out.append(re.escape(segment[pos:]))
    return "".join(out)


def compile_route(prefix: str, template: str) -> RoutePattern:
    """Compile ``prefix/template`` into a matcher."""
    segments = [s for s in f"{prefix.strip('/')}/{template.strip('/')}".split("/") if s]
    regex = "/" + "/".join(_segment_regex(s) for s in segments)
    # An optional last parameter also matches without its slash: "orders" and "orders/1".
    regex = re.sub(r"/(\(\?P<\w+>[^)]*\)\?)$", r"(?:/\1)?", regex)
    literals = sum(1 for s in segments if not _PARAM.search(s))
    return RoutePattern(template=template, regex=re.compile(regex), literal_segments=literals)


def route_of(trigger: dict[str, Any], function_name: str) -> str:
    """Return an HTTP trigger's route template (the function name when none is set)."""
    return str(trigger.get("route") or function_name)
