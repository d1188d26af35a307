"""The wheel carries the themes and the demo scenario, and an installed wheel finds them
at run time without a source checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_installed_wheel_finds_its_themes_and_demo_scenario(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("ftops_tui-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for theme in ("ftops-dark", "ftops-light", "ftops-mono"):
        assert f"ftops_tui/_themes/{theme}.yaml" in names
    assert "ftops_tui/relay_server/scenarios/demo.yaml" in names

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    probe = (
        "import json, ftops_tui, ftops_tui.settings.paths as p, ftops_tui.settings.themes as t, "
        "ftops_tui.relay_server.scenario as s;"
        "print(json.dumps({'pkg': ftops_tui.__file__, 'themes_dir': str(p.builtin_themes_dir()),"
        "'themes': sorted(t.load_themes({'XDG_CONFIG_HOME': '/nonexistent'})),"
        "'demo': s.demo_scenario_path().is_file()}))"
    )
    # Run away from the checkout, with the installed copy first on the path.
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    found = json.loads(out)
    assert found["pkg"].startswith(str(target))
    assert found["themes_dir"] == str(target / "ftops_tui" / "_themes")
    assert {"ftops-dark", "ftops-light", "ftops-mono"} <= set(found["themes"])
    assert found["demo"] is True
