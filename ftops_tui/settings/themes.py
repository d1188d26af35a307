"""Themes are YAML files (themes/ in the package, and the user's own in the XDG config dir)
turned into Textual Theme objects. A bad theme file names the file and the key."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ftops_tui.settings import paths

if TYPE_CHECKING:
    from textual.theme import Theme

COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)
_NUMBER_KEYS = ("luminosity_spread", "text_alpha")
_ALLOWED = {"name", "dark", "variables", *COLOUR_KEYS, *_NUMBER_KEYS}
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
DEFAULT_THEME = "ftops-dark"


class ThemeError(ValueError):
    pass


def theme_from_dict(data: object, source: Path) -> Theme:
    from textual.color import Color, ColorParseError
    from textual.theme import Theme

    if not isinstance(data, Mapping):
        raise ThemeError(f"{source}: a theme file must be a mapping of keys to colours")
    unknown = sorted(set(data) - _ALLOWED)
    if unknown:
        raise ThemeError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(_ALLOWED)}")
    name = data.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ThemeError(
            f"{source}: name: must be lower-case letters, digits and '-', got {name!r}"
        )
    if "primary" not in data:
        raise ThemeError(f"{source}: primary: missing (every theme needs a primary colour)")
    kwargs: dict[str, Any] = {"name": name}
    for key in COLOUR_KEYS:
        if key in data:
            value = data[key]
            try:
                Color.parse(str(value))
            except ColorParseError:
                raise ThemeError(
                    f"{source}: {key}: {value!r} is not a colour (use #RRGGBB or a colour name)"
                ) from None
            kwargs[key] = str(value)
    if "dark" in data:
        if not isinstance(data["dark"], bool):
            raise ThemeError(f"{source}: dark: must be true or false, got {data['dark']!r}")
        kwargs["dark"] = data["dark"]
    for key in _NUMBER_KEYS:
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ThemeError(f"{source}: {key}: must be a number in 0..1, got {value!r}")
            kwargs[key] = float(value)
    variables = data.get("variables") or {}
    if not isinstance(variables, Mapping):
        raise ThemeError(f"{source}: variables: must be a mapping of CSS variable to value")
    kwargs["variables"] = {str(k): str(v) for k, v in variables.items()}
    return Theme(**kwargs)


def load_theme_file(path: Path) -> Theme:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeError(f"{path}: cannot read theme: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ThemeError(f"{path}: not valid YAML: {exc}") from None
    return theme_from_dict(data, path)


def theme_files(env: Mapping[str, str] = os.environ) -> dict[str, Path]:
    """Theme file per name; a user's file overrides a built-in one of the same name."""
    found: dict[str, Path] = {}
    for folder in (paths.builtin_themes_dir(), paths.user_themes_dir(env)):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found[path.stem] = path
    return found


def load_themes(env: Mapping[str, str] = os.environ) -> dict[str, Theme]:
    """Every available theme, keyed by its `name`."""
    themes: dict[str, Theme] = {}
    for path in theme_files(env).values():
        theme = load_theme_file(path)
        themes[theme.name] = theme
    return themes
