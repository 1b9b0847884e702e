"""Derivative recipes: named renditions with parameters, from config.toml.

Each ``[recipes.NAME]`` table has a ``kind`` (analysis, proxy, poster,
storyboard) and that kind's parameters. A recipe's hash covers its kind,
its parameters (with defaults filled in), the version of the code that
applies it, and whatever it builds on (a proxy builds on the analysis).
A derivative is keyed by (cut sha256, recipe name, recipe hash): it is
rebuilt only when the content or the recipe changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from medialib.errors import ConfigError

# Bump when the code that applies a kind changes its output.
VERSIONS = {"analysis": 1, "proxy": 1, "poster": 2, "storyboard": 1}

# The recipes of a new library. Parameters not given take each kind's defaults.
DEFAULT_RECIPES: dict[str, dict[str, Any]] = {
    "analysis": {"kind": "analysis"},
    "proxy-720": {"kind": "proxy", "height": 720, "crf": 23, "maxrate": "3M", "bufsize": "6M"},
    "proxy-360": {"kind": "proxy", "height": 360, "crf": 24, "maxrate": "1M", "bufsize": "2M"},
    "poster": {"kind": "poster"},
    "storyboard": {"kind": "storyboard"},
}


def fill_defaults(name: str, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` over ``defaults``; ConfigError for a non-table or an unknown key."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"recipes.{name}", "expected a table of settings")
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ConfigError(f"recipes.{name}.{unknown[0]}", f"unknown setting (known: {', '.join(defaults)})")
    return {**defaults, **params}


def _checker(kind: str) -> Callable[[str, Mapping[str, Any]], dict[str, Any]]:
    if kind == "analysis":
        from medialib.media.analysis import check_analysis_recipe

        return check_analysis_recipe
    if kind == "proxy":
        from medialib.media.proxy import check_recipe

        return check_recipe
    if kind == "poster":
        from medialib.media.posters import check_recipe as check_poster

        return check_poster
    if kind == "storyboard":
        from medialib.media.storyboard import check_recipe as check_storyboard

        return check_storyboard
    raise KeyError(kind)


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str
    params: dict[str, Any]

    def hash(self, *depends: str, extra: Any = None) -> str:
        """A short, stable hash of everything that shapes this recipe's output."""
        blob = json.dumps(
            {"kind": self.kind, "v": VERSIONS[self.kind], "params": self.params, "on": depends, "extra": extra},
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def merge(configured: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The defaults with config.toml's ``[recipes.*]`` tables laid over them."""
    merged = {name: dict(params) for name, params in DEFAULT_RECIPES.items()}
    for name, params in (configured or {}).items():
        if not isinstance(params, Mapping):
            raise ConfigError(f"recipes.{name}", "expected a table of parameters")
        merged[name] = {**merged.get(name, {}), **params}
    return merged


_RESOLVED: dict[int, tuple[Any, dict[str, Recipe]]] = {}


def resolve(configured: Mapping[str, Any] | None) -> dict[str, Recipe]:
    """Every enabled recipe, checked, with defaults filled in. Raises ConfigError.

    Loaded settings are never changed in place, so the result for one settings
    table is remembered (the review board resolves them for every film)."""
    known = _RESOLVED.get(id(configured))
    if known is not None and known[0] is configured:
        return dict(known[1])
    result = _resolve(configured)
    if len(_RESOLVED) > 64:
        _RESOLVED.clear()
    _RESOLVED[id(configured)] = (configured, result)
    return dict(result)


def _resolve(configured: Mapping[str, Any] | None) -> dict[str, Recipe]:
    recipes: dict[str, Recipe] = {}
    analysis_count = 0
    for name, params in merge(configured).items():
        params = dict(params)
        if not params.pop("enabled", True):
            continue
        kind = params.get("kind")
        if kind not in VERSIONS:
            raise ConfigError(f"recipes.{name}.kind", f"{kind!r} is not one of {', '.join(VERSIONS)}")
        params.pop("kind")
        checked = _checker(kind)(name, params)
        checked.pop("kind", None)
        recipes[name] = Recipe(name, kind, checked)
        analysis_count += kind == "analysis"
    if analysis_count > 1:
        raise ConfigError("recipes", "only one recipe of kind 'analysis' may be enabled")
    if analysis_count == 0 and any(r.kind == "proxy" for r in recipes.values()):
        raise ConfigError("recipes", "proxies need an enabled recipe of kind 'analysis' (loudness)")
    return recipes
