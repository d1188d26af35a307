"""Every file-system location the console uses, in one place.

Other modules ask here rather than joining paths themselves, so the XDG rules, `~` expansion
and "relative to the config file" are decided once. Functions take the environment as an
argument (default: the process's) so tests can pass a plain dict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP_NAME = "ftops-tui"
CONFIG_ENV_VAR = "FTOPS_TUI_CONFIG"


def home_dir(env: Mapping[str, str] = os.environ) -> Path:
    """$HOME from `env`, so a test's env dict decides it too; the OS's idea when unset."""
    home = env.get("HOME", "")
    return Path(home) if home else Path.home()


def _xdg_base(env: Mapping[str, str], var: str, *fallback: str) -> Path:
    value = env.get(var, "")
    # The XDG spec says a relative value is invalid and must be ignored; honouring it would
    # put state wherever the console happened to be started.
    if value and Path(value).is_absolute():
        return Path(value)
    return home_dir(env).joinpath(*fallback)


def config_dir(env: Mapping[str, str] = os.environ) -> Path:
    return _xdg_base(env, "XDG_CONFIG_HOME", ".config") / APP_NAME


def state_dir(env: Mapping[str, str] = os.environ) -> Path:
    return _xdg_base(env, "XDG_STATE_HOME", ".local", "state") / APP_NAME


def default_config_path(env: Mapping[str, str] = os.environ) -> Path:
    return config_dir(env) / "config.yaml"


def user_themes_dir(env: Mapping[str, str] = os.environ) -> Path:
    return config_dir(env) / "themes"


def default_audit_path(env: Mapping[str, str] = os.environ) -> Path:
    return state_dir(env) / "audit.db"


def log_path(env: Mapping[str, str] = os.environ) -> Path:
    return state_dir(env) / "ftops-tui.log"


def builtin_themes_dir() -> Path:
    """The themes shipped with the program.

    An installed wheel carries them inside the package (pyproject force-includes the top-level
    `themes/` as `ftops_tui/_themes/`); a source checkout or editable install has only the
    top-level directory.
    """
    package = Path(__file__).parent.parent
    candidates = (package / "_themes", package.parent / "themes")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "built-in themes not found; looked in " + " and ".join(str(c) for c in candidates)
    )


def find_config_path(cli_path: str | None, env: Mapping[str, str] = os.environ) -> Path:
    """--config PATH, else $FTOPS_TUI_CONFIG, else the XDG default (console.md, "Config")."""
    if cli_path:
        return expand_user(cli_path, env)
    from_env = env.get(CONFIG_ENV_VAR, "")
    if from_env:
        return expand_user(from_env, env)
    return default_config_path(env)


def expand_user(raw: str, env: Mapping[str, str] = os.environ) -> Path:
    """`~` and `~/...` against `env`'s $HOME; `~user/...` by the OS; anything else unchanged."""
    if raw == "~":
        return home_dir(env)
    if raw.startswith("~/"):
        return home_dir(env) / raw[2:]
    return Path(raw).expanduser()


def resolve_path(raw: str, base_dir: Path, env: Mapping[str, str] = os.environ) -> Path:
    """A path written in a config file: `~` expanded, then relative to the file's directory.

    Not `.resolve()`d: symlinks stay as the operator wrote them, and the file need not exist.
    """
    path = expand_user(raw, env)
    if path.is_absolute():
        return path
    return base_dir.absolute() / path


def demo_audit_path(env: Mapping[str, str] = os.environ) -> Path:
    """The demo's own audit log: kept after the demo exits (so `audit --demo` can show what
    was done), and apart from the real one so demo rows never mix with production rows."""
    return state_dir(env) / "demo-audit.db"
