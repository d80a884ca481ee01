"""The ``endpoint`` label of the HTTP metrics: a route template, never the raw path.

Labelled by raw path, every unknown or long path an anonymous client sends becomes new
Prometheus series (in memory and in the multiprocess files on disk), and the labels show
other clients' game ids. A path is labelled by the template of the route it matches
(``/api/v1/predict/{game_id}``), else by ``UNMATCHED``: the number of series is bounded by
the number of routes, whatever the traffic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.routing import compile_path

UNMATCHED = "unmatched"
# BentoML's own routes (besides the service's APIs, which it lists in its server context).
BENTOML_ROUTES = ("/", "/metrics", "/livez", "/readyz", "/healthz", "/schema.json", "/docs.json")


class RouteLabels:
    """Maps a request path to the template of the first route that matches it."""

    def __init__(self) -> None:
        self._exact: dict[str, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    def add(self, templates: Iterable[str]) -> None:
        for template in templates:
            if template in self._exact or any(t == template for _, t in self._patterns):
                continue
            regex, _, convertors = compile_path(template)
            if convertors:
                self._patterns.append((regex, template))
            else:
                self._exact[template] = template

    def __call__(self, path: str) -> str:
        exact = self._exact.get(path)
        if exact is not None:
            return exact
        for regex, template in self._patterns:
            if regex.match(path):
                return template
        return UNMATCHED


labels = RouteLabels()
labels.add(BENTOML_ROUTES)
