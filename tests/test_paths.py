"""XDG locations, config-file discovery and path resolution (console.md, "Config")."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftops_tui.settings import paths

HOME = {"HOME": "/home/op"}


def test_xdg_dirs_follow_the_environment() -> None:
    env = {**HOME, "XDG_CONFIG_HOME": "/cfg", "XDG_STATE_HOME": "/state"}
    assert paths.config_dir(env) == Path("/cfg/ftops-tui")
    assert paths.state_dir(env) == Path("/state/ftops-tui")
    assert paths.default_config_path(env) == Path("/cfg/ftops-tui/config.yaml")
    assert paths.user_themes_dir(env) == Path("/cfg/ftops-tui/themes")
    assert paths.default_audit_path(env) == Path("/state/ftops-tui/audit.db")
    assert paths.log_path(env) == Path("/state/ftops-tui/ftops-tui.log")


def test_xdg_dirs_fall_back_to_home_when_unset_empty_or_relative() -> None:
    for env in (HOME, {**HOME, "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": "relative/dir"}):
        assert paths.config_dir(env) == Path("/home/op/.config/ftops-tui")
        assert paths.state_dir(env) == Path("/home/op/.local/state/ftops-tui")
        assert paths.default_audit_path(env) == Path("/home/op/.local/state/ftops-tui/audit.db")


def test_find_config_path_prefers_cli_then_env_then_default() -> None:
    env = {**HOME, "FTOPS_TUI_CONFIG": "/etc/ftops.yaml", "XDG_CONFIG_HOME": "/cfg"}
    assert paths.find_config_path("/tmp/cli.yaml", env) == Path("/tmp/cli.yaml")
    assert paths.find_config_path(None, env) == Path("/etc/ftops.yaml")
    without_var = {**HOME, "XDG_CONFIG_HOME": "/cfg"}
    assert paths.find_config_path(None, without_var) == Path("/cfg/ftops-tui/config.yaml")
    # An empty variable is "unset", not "the current directory".
    empty_var = {**without_var, "FTOPS_TUI_CONFIG": ""}
    assert paths.find_config_path(None, empty_var) == Path("/cfg/ftops-tui/config.yaml")


def test_find_config_path_expands_tilde() -> None:
    assert paths.find_config_path("~/c.yaml", HOME) == Path("/home/op/c.yaml")
    env = {**HOME, "FTOPS_TUI_CONFIG": "~/e.yaml"}
    assert paths.find_config_path(None, env) == Path("/home/op/e.yaml")


def test_resolve_path_is_relative_to_the_base_dir_with_tilde_expanded() -> None:
    base = Path("/srv/ftops")
    assert paths.resolve_path("audit.db", base, HOME) == Path("/srv/ftops/audit.db")
    assert paths.resolve_path("../x/audit.db", base, HOME) == Path("/srv/ftops/../x/audit.db")
    assert paths.resolve_path("/var/audit.db", base, HOME) == Path("/var/audit.db")
    assert paths.resolve_path("~/audit.db", base, HOME) == Path("/home/op/audit.db")
    assert paths.resolve_path("~", base, HOME) == Path("/home/op")


def test_builtin_themes_dir_finds_the_checkout_themes() -> None:
    repo_themes = Path(paths.__file__).resolve().parents[2] / "themes"
    assert repo_themes.is_dir()
    assert paths.builtin_themes_dir().resolve() == repo_themes


def test_builtin_themes_dir_prefers_the_packaged_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "ftops_tui"
    (package / "_themes").mkdir(parents=True)
    (tmp_path / "themes").mkdir()
    monkeypatch.setattr(paths, "__file__", str(package / "settings" / "paths.py"))
    assert paths.builtin_themes_dir() == package / "_themes"


def test_builtin_themes_dir_names_both_places_when_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "ftops_tui"
    package.mkdir()
    monkeypatch.setattr(paths, "__file__", str(package / "settings" / "paths.py"))
    with pytest.raises(FileNotFoundError) as excinfo:
        paths.builtin_themes_dir()
    assert str(package / "_themes") in str(excinfo.value)
    assert str(tmp_path / "themes") in str(excinfo.value)
