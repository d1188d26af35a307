"""Themes are YAML files turned into Textual themes; a user's own dir adds to and overrides them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftops_tui.settings.themes import ThemeError, load_theme_file, load_themes


def test_shipped_themes_load_dark_light_and_mono() -> None:
    themes = load_themes(env={"XDG_CONFIG_HOME": "/nonexistent"})
    assert {"ftops-dark", "ftops-light", "ftops-mono"} <= set(themes)
    assert themes["ftops-dark"].dark and not themes["ftops-light"].dark


def test_user_theme_dir_adds_and_overrides(tmp_path: Path) -> None:
    folder = tmp_path / "ftops-tui" / "themes"
    folder.mkdir(parents=True)
    (folder / "night-shift.yaml").write_text("name: night-shift\nprimary: '#AA0000'\n")
    (folder / "ftops-dark.yaml").write_text("name: ftops-dark\nprimary: '#00AA00'\n")
    themes = load_themes(env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert themes["night-shift"].primary == "#AA0000"
    assert themes["ftops-dark"].primary == "#00AA00"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("name: x\nprimary: '#12'\n", "primary"),
        ("name: x\nprimary: '#123456'\nbackgrund: '#000000'\n", "backgrund"),
        ("primary: '#123456'\n", "name"),
        ("name: x\n", "primary"),
        ("name: x\nprimary: '#123456'\ndark: maybe\n", "dark"),
        ("- a list\n", "mapping"),
    ],
)
def test_bad_theme_file_names_the_file_and_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ThemeError, match=key) as caught:
        load_theme_file(path)
    assert "broken.yaml" in str(caught.value)


def test_no_color_picks_the_greys_only_theme_unless_one_is_chosen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ftops_tui.commands.cli import _check_theme

    def chosen(name: str | None, env: dict[str, str]) -> str:
        checked = _check_theme(name, env)
        assert checked is not None
        assert sorted(checked[1]) == ["ftops-dark", "ftops-light", "ftops-mono"]
        return checked[0]

    env = {"XDG_CONFIG_HOME": "/nonexistent", "NO_COLOR": "1"}
    assert chosen(None, env) == "ftops-mono"
    assert chosen("ftops-light", env) == "ftops-light"
    assert chosen(None, {"XDG_CONFIG_HOME": "/nonexistent"}) == "ftops-dark"


def test_unknown_theme_is_a_usage_error_listing_the_themes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ftops_tui.commands.cli import main

    assert main(["--demo", "--theme", "neon"], env={"XDG_CONFIG_HOME": "/nonexistent"}) == 2
    assert (
        "no theme 'neon'; available: ftops-dark, ftops-light, ftops-mono" in capsys.readouterr().err
    )
