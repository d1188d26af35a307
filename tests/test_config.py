"""The config file: what a valid one becomes, and what each kind of mistake says.

Each error test checks the three things an operator needs to fix the file: which file, which
key, and what would have been allowed.
"""

from __future__ import annotations

import copy
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from ftops_tui.domain.health import Thresholds
from ftops_tui.settings.config import (
    AuditConfig,
    Config,
    ConfigError,
    PollConfig,
    RegistryConfig,
    RelayConfig,
    RolloutConfig,
    config_from_dict,
    load_config,
)

ENV = {"HOME": "/home/op", "XDG_STATE_HOME": "/state"}
MINIMAL: dict[str, Any] = {
    "relay": {"url": "http://relay.internal:8787/v1"},
    "registry": {"tracking_uri": "http://mlflow.internal:5000"},
}


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_minimal_plus(tmp_path: Path, extra: dict[str, Any]) -> Path:
    """MINIMAL with `extra` merged in one level deep, written as a real YAML file."""
    data = copy.deepcopy(MINIMAL)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return write(tmp_path, yaml.safe_dump(data, sort_keys=False))


def load_error(path: Path, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as excinfo:
        load_config(path, env=ENV if env is None else env)
    error = excinfo.value
    assert error.file == path
    assert str(error).startswith(f"{path}: ")
    return error


# --- valid files ----------------------------------------------------------------------------


def test_full_file_parses_to_expected_objects(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        relay:
          url: https://relay.internal:8787/v1
          api_key_env: PROD_RELAY_KEY
          timeout_s: 3          # an int is a fine float
        registry:
          tracking_uri: postgresql+psycopg2://mlflow@db/mlflow
          version_tag_key: relay.tag
          stable_alias: prod
          timeout_s: 7.5
          max_retries: 2
        routes:
          - support-bot-production
          - search-production
        poll:
          interval_s: 0.5
          window_s: 60
        rollout:
          steps: [1, 10, 100]
          shift_step: 10
        thresholds:
          error_rate: 0.02
          latency_p99_ms: 2500
          latency_vs_stable: 1.2
          significance_alpha: 0.01
          min_requests: 50
        audit:
          path: /var/lib/ftops/audit.db
        theme: ftops-light
        keys:
          rollback: R
          quit: ctrl+q
        """,
    )
    config = load_config(path, env=ENV)
    assert config == Config(
        relay=RelayConfig(
            url="https://relay.internal:8787/v1", api_key_env="PROD_RELAY_KEY", timeout_s=3.0
        ),
        registry=RegistryConfig(
            tracking_uri="postgresql+psycopg2://mlflow@db/mlflow",
            version_tag_key="relay.tag",
            stable_alias="prod",
            timeout_s=7.5,
            max_retries=2,
        ),
        routes=("support-bot-production", "search-production"),
        poll=PollConfig(interval_s=0.5, window_s=60),
        rollout=RolloutConfig(steps=(1, 10, 100), shift_step=10),
        thresholds=Thresholds(
            error_rate=0.02,
            latency_p99_ms=2500.0,
            latency_vs_stable=1.2,
            significance_alpha=0.01,
            min_requests=50,
        ),
        audit=AuditConfig(path=Path("/var/lib/ftops/audit.db")),
        theme="ftops-light",
        keys={"rollback": "R", "quit": "ctrl+q"},
        source=path,
    )
    assert isinstance(config.relay.timeout_s, float)
    assert config.poll.registry_interval_s == 5.0
    with pytest.raises(TypeError):
        config.keys["undo"] = "z"  # type: ignore[index]


def test_minimal_file_gets_every_default(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        relay:
          url: http://127.0.0.1:8787/v1
        registry:
          tracking_uri: http://mlflow:5000
        """,
    )
    config = load_config(path, env=ENV)
    assert config.relay == RelayConfig(url="http://127.0.0.1:8787/v1")
    assert config.relay.api_key_env == "RELAY_API_KEY"
    assert config.relay.timeout_s == 2.0
    assert config.registry == RegistryConfig(tracking_uri="http://mlflow:5000")
    assert (config.registry.version_tag_key, config.registry.stable_alias) == (
        "relay.version_tag",
        "champion",
    )
    assert (config.registry.timeout_s, config.registry.max_retries) == (5.0, 0)
    assert config.routes is None
    assert config.poll == PollConfig(interval_s=1.0, window_s=15)
    assert config.poll.registry_interval_s == 10.0
    assert config.rollout == RolloutConfig(steps=(5, 25, 50, 100), shift_step=5)
    assert config.thresholds == Thresholds()
    assert config.thresholds.min_requests == 10
    assert config.audit.path == Path("/state/ftops-tui/audit.db")
    assert config.theme == "ftops-dark"
    assert dict(config.keys) == {}
    assert config.source == path


def test_commented_out_sections_mean_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        relay:
          url: http://relay:8787
        registry:
          tracking_uri: http://mlflow:5000
        routes:
        #  - support-bot-production
        thresholds:
        #  error_rate: 0.1
        keys:
        """,
    )
    config = load_config(path, env=ENV)
    assert config.routes is None
    assert config.thresholds == Thresholds()
    assert dict(config.keys) == {}


def test_mlflow_tracking_uri_env_overrides_the_file(tmp_path: Path) -> None:
    path = write_minimal_plus(tmp_path, {"registry": {"tracking_uri": "sqlite:///file.db"}})
    env = {**ENV, "MLFLOW_TRACKING_URI": "http://other-mlflow:5000"}
    assert load_config(path, env=env).registry.tracking_uri == "http://other-mlflow:5000"


def test_mlflow_tracking_uri_env_satisfies_the_required_key(tmp_path: Path) -> None:
    path = write(tmp_path, "relay:\n  url: http://relay:8787\n")
    env = {**ENV, "MLFLOW_TRACKING_URI": "databricks"}
    assert load_config(path, env=env).registry.tracking_uri == "databricks"
    # An empty variable is "unset": the file must then name the URI itself.
    error = load_error(path, env={**ENV, "MLFLOW_TRACKING_URI": ""})
    assert error.key == "registry.tracking_uri"


def test_mlflow_tracking_uri_env_is_checked_and_named(tmp_path: Path) -> None:
    path = write_minimal_plus(tmp_path, {})
    error = load_error(path, env={**ENV, "MLFLOW_TRACKING_URI": "ftp://mlflow"})
    assert error.key == "registry.tracking_uri"
    assert "$MLFLOW_TRACKING_URI" in error.message
    assert "'ftp://mlflow'" in error.message


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    conf_dir = tmp_path / "etc" / "ftops"
    conf_dir.mkdir(parents=True)
    path = write_minimal_plus(
        conf_dir,
        {"registry": {"tracking_uri": "sqlite:///data/mlflow.db"}, "audit": {"path": "audit.db"}},
    )
    config = load_config(path, env=ENV)
    assert config.audit.path == conf_dir / "audit.db"
    assert config.registry.tracking_uri == f"sqlite:///{conf_dir}/data/mlflow.db"
    assert config.registry.tracking_uri.startswith("sqlite:////")


def test_relative_config_path_still_resolves_against_its_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    write_minimal_plus(tmp_path / "conf", {"audit": {"path": "audit.db"}})
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/config.yaml"), env=ENV)
    assert config.audit.path == tmp_path / "conf" / "audit.db"
    assert config.source == tmp_path / "conf" / "config.yaml"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
        ("sqlite:///~/mlflow.db", "sqlite:////home/op/mlflow.db"),
        ("sqlite:///mlflow.db?mode=ro", "sqlite:///{dir}/mlflow.db?mode=ro"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
    ],
)
def test_sqlite_uri_forms(tmp_path: Path, written: str, expected: str) -> None:
    path = write_minimal_plus(tmp_path, {"registry": {"tracking_uri": written}})
    config = load_config(path, env=ENV)
    assert config.registry.tracking_uri == expected.format(dir=tmp_path)


def test_tilde_in_audit_path_is_expanded(tmp_path: Path) -> None:
    path = write_minimal_plus(tmp_path, {"audit": {"path": "~/ftops/audit.db"}})
    assert load_config(path, env=ENV).audit.path == Path("/home/op/ftops/audit.db")


def test_config_from_dict_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    data = {**MINIMAL, "audit": {"path": "demo-audit.db"}}
    config = config_from_dict(data, file=None, env=ENV)
    assert config.source is None
    assert config.audit.path == tmp_path / "demo-audit.db"
    with pytest.raises(ConfigError) as excinfo:
        config_from_dict({"relay": {}}, file=None, env=ENV)
    assert str(excinfo.value).startswith("<no file>: relay.url: required key is missing")


def test_config_error_str_format() -> None:
    assert str(ConfigError(Path("/c.yaml"), "poll.window_s", "bad")) == (
        "/c.yaml: poll.window_s: bad"
    )
    assert str(ConfigError(Path("/c.yaml"), "", "cannot be read")) == "/c.yaml: cannot be read"
    assert str(ConfigError(None, "theme", "bad")) == "<no file>: theme: bad"


# --- one test per kind of error -------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(lambda d: d / "absent.yaml", "No such file or directory", id="missing"),
        pytest.param(lambda d: d, "Is a directory", id="directory"),
        pytest.param(lambda d: write(d, "relay: {}\n"), "Permission denied", id="permission"),
    ],
)
def test_unreadable_file_says_it_cannot_be_read_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Any, why: str
) -> None:
    path: Path = make(tmp_path)
    if why == "Permission denied":
        path.chmod(0)
        if os.geteuid() == 0:
            # root reads a file whatever its mode; make the OS answer what it would for others.
            def denied(path: Path) -> str:
                raise PermissionError(13, "Permission denied", str(path))

            monkeypatch.setattr("ftops_tui.settings.config._read_config", denied)
    error = load_error(path)
    assert error.key == ""
    assert "cannot be read" in error.message
    assert why in error.message


def test_missing_file_says_how_to_provide_one(tmp_path: Path) -> None:
    error = load_error(tmp_path / "absent.yaml")
    assert "--config" in error.message
    assert "$FTOPS_TUI_CONFIG" in error.message


def test_yaml_syntax_error_gives_the_line_number(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        relay:
          url: http://relay:8787
        registry:
          tracking_uri: "http://mlflow:5000
        """,
    )
    error = load_error(path)
    # Found at the end of the file, begun at the unclosed quote: both lines are named.
    assert "not valid YAML at line 5" in error.message
    assert "quoted scalar at line 4" in error.message

    path = write(tmp_path, "relay:\n  url: http://relay:8787\n   timeout_s: 2\n")
    assert "not valid YAML at line 3" in load_error(path).message


def test_top_level_not_a_mapping_lists_the_sections(tmp_path: Path) -> None:
    for text in ("- relay\n- registry\n", "just some words\n"):
        error = load_error(write(tmp_path, text))
        assert error.key == ""
        assert "top level must be a mapping" in error.message
        assert "relay, registry, routes, poll, rollout, thresholds, audit, theme, keys" in (
            error.message
        )


def test_duplicate_key_is_refused_with_both_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        relay:
          url: http://relay:8787
        registry:
          tracking_uri: http://mlflow:5000
        thresholds:
          error_rate: 0.01
        thresholds:
          latency_p99_ms: 100
        """,
    )
    error = load_error(path)
    assert "duplicate key 'thresholds'" in error.message
    assert "line 7" in error.message
    assert "first given at line 5" in error.message


@pytest.mark.parametrize(
    ("extra", "key", "suggestion", "allowed"),
    [
        ({"relay": {"timout_s": 1}}, "relay.timout_s", "timeout_s", "url, api_key_env, timeout_s"),
        (
            {"thresholds": {"eror_rate": 0.1}},
            "thresholds.eror_rate",
            "error_rate",
            "error_rate, latency_p99_ms, latency_vs_stable, significance_alpha, min_requests",
        ),
        ({"themes": "x"}, "themes", "theme", "relay, registry, routes"),
        ({"keys": {"rollbak": "r"}}, "keys.rollbak", "rollback", "rollback, weight_up"),
    ],
)
def test_unknown_key_is_named_with_a_suggestion(
    tmp_path: Path, extra: dict[str, Any], key: str, suggestion: str, allowed: str
) -> None:
    error = load_error(write_minimal_plus(tmp_path, extra))
    assert error.key == key
    assert f"unknown key '{key.rsplit('.', 1)[-1]}'" in error.message
    assert f"did you mean '{suggestion}'?" in error.message
    assert f"allowed keys: {allowed}" in error.message


def test_unknown_key_with_nothing_close_lists_the_allowed_keys(tmp_path: Path) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"poll": {"zzz": 1}}))
    assert error.key == "poll.zzz"
    assert "did you mean" not in error.message
    assert "allowed keys: interval_s, window_s" in error.message


@pytest.mark.parametrize(
    ("extra", "key", "expected", "got"),
    [
        ({"relay": {"timeout_s": "fast"}}, "relay.timeout_s", "a number > 0", "a string 'fast'"),
        ({"routes": "foo"}, "routes", "a list of route ids", "a string 'foo'"),
        ({"routes": ["a", 7]}, "routes[1]", "a route id", "an integer 7"),
        ({"poll": {"window_s": True}}, "poll.window_s", "an integer from 1 to 3600", "a boolean"),
        ({"poll": {"window_s": 15.0}}, "poll.window_s", "an integer from 1 to 3600", "a number"),
        ({"poll": {"interval_s": False}}, "poll.interval_s", "a number > 0", "a boolean False"),
        ({"poll": {"interval_s": None}}, "poll.interval_s", "a number > 0", "null"),
        ({"relay": "http://relay"}, "relay", "url, api_key_env, timeout_s", "a string"),
        ({"registry": {"stable_alias": 3}}, "registry.stable_alias", "non-empty", "integer 3"),
        ({"keys": {"undo": ""}}, "keys.undo", "a key name", "a string ''"),
        ({"rollout": {"steps": "5,25,100"}}, "rollout.steps", "a list of canary", "a string"),
    ],
)
def test_wrong_type_says_what_was_expected_and_what_was_found(
    tmp_path: Path, extra: dict[str, Any], key: str, expected: str, got: str
) -> None:
    error = load_error(write_minimal_plus(tmp_path, extra))
    assert error.key == key
    assert expected in error.message
    assert got in error.message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "relay.url"),
        ("# nothing but a comment\n", "relay.url"),
        ("relay:\n  timeout_s: 2\n", "relay.url"),
        ("relay:\n  url: http://relay:8787\n", "registry.tracking_uri"),
        (
            "relay:\n  url: http://relay:8787\nregistry:\n  stable_alias: x\n",
            "registry.tracking_uri",
        ),
    ],
)
def test_missing_required_key_is_named(tmp_path: Path, text: str, key: str) -> None:
    error = load_error(write(tmp_path, text))
    assert error.key == key
    assert "required key is missing" in error.message
    if key == "relay.url":
        assert "http(s) URL" in error.message
    else:
        assert "$MLFLOW_TRACKING_URI" in error.message
        assert "sqlite, http, https, file, postgresql, mysql, databricks" in error.message


@pytest.mark.parametrize(
    "url", ["ftp://relay:8787", "relay:8787", "http://", "127.0.0.1:8787/v1", "http://h:port"]
)
def test_bad_relay_url_says_http_with_a_host(tmp_path: Path, url: str) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"relay": {"url": url}}))
    assert error.key == "relay.url"
    assert repr(url) in error.message
    assert "http(s) URL with a host" in error.message


@pytest.mark.parametrize(
    ("uri", "found"),
    [
        ("mlruns", "no scheme"),
        ("s3://bucket/mlflow", "scheme 's3'"),
        ("http+foo://mlflow", "scheme 'http+foo'"),
        ("https://", "no host"),
    ],
)
def test_bad_tracking_uri_lists_the_allowed_schemes(tmp_path: Path, uri: str, found: str) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"registry": {"tracking_uri": uri}}))
    assert error.key == "registry.tracking_uri"
    assert repr(uri) in error.message
    assert found in error.message
    if found != "no host":
        assert "sqlite, http, https, file, postgresql, mysql, databricks" in error.message


@pytest.mark.parametrize(
    ("rollout", "key", "says"),
    [
        ({"steps": []}, "rollout.steps", "the list is empty"),
        ({"steps": [0, 50, 100]}, "rollout.steps[0]", "0 is out of range"),
        ({"steps": [5, 101]}, "rollout.steps[1]", "101 is out of range"),
        ({"steps": [5, 2.5, 100]}, "rollout.steps[1]", "got a number 2.5"),
        ({"steps": [5, 50, 25, 100]}, "rollout.steps[2]", "strictly increasing"),
        ({"steps": [5, 50, 50, 100]}, "rollout.steps[2]", "strictly increasing"),
        ({"steps": [5, 25, 50]}, "rollout.steps[2]", "must be exactly 100"),
        ({"shift_step": 0}, "rollout.shift_step", "an integer from 1 to 100"),
        ({"shift_step": 101}, "rollout.shift_step", "an integer from 1 to 100"),
    ],
)
def test_bad_rollout_steps_say_what_is_allowed(
    tmp_path: Path, rollout: dict[str, Any], key: str, says: str
) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"rollout": rollout}))
    assert error.key == key
    assert says in error.message
    if "out of range" in says:
        assert "an integer from 1 to 100" in error.message


@pytest.mark.parametrize(
    ("extra", "key", "allowed"),
    [
        ({"thresholds": {"error_rate": 0}}, "thresholds.error_rate", "a number > 0 and <= 1"),
        ({"thresholds": {"error_rate": 1.5}}, "thresholds.error_rate", "a number > 0 and <= 1"),
        ({"thresholds": {"latency_p99_ms": -1}}, "thresholds.latency_p99_ms", "a number > 0"),
        ({"thresholds": {"latency_vs_stable": 0.9}}, "thresholds.latency_vs_stable", ">= 1"),
        ({"thresholds": {"significance_alpha": 0.6}}, "thresholds.significance_alpha", "<= 0.5"),
        ({"thresholds": {"significance_alpha": 0}}, "thresholds.significance_alpha", "> 0"),
        ({"thresholds": {"min_requests": 0}}, "thresholds.min_requests", "an integer >= 1"),
        ({"poll": {"interval_s": 0}}, "poll.interval_s", "a number > 0"),
        ({"poll": {"interval_s": float("inf")}}, "poll.interval_s", "a number > 0"),
        ({"poll": {"window_s": 0}}, "poll.window_s", "an integer from 1 to 3600"),
        ({"poll": {"window_s": 3601}}, "poll.window_s", "an integer from 1 to 3600"),
        ({"relay": {"timeout_s": 0}}, "relay.timeout_s", "a number > 0"),
        ({"registry": {"timeout_s": -2}}, "registry.timeout_s", "a number > 0"),
        ({"registry": {"max_retries": 11}}, "registry.max_retries", "an integer from 0 to 10"),
        ({"registry": {"max_retries": -1}}, "registry.max_retries", "an integer from 0 to 10"),
    ],
)
def test_number_out_of_range_says_the_allowed_range(
    tmp_path: Path, extra: dict[str, Any], key: str, allowed: str
) -> None:
    error = load_error(write_minimal_plus(tmp_path, extra))
    assert error.key == key
    assert "is out of range; allowed: " in error.message
    assert allowed in error.message


def test_boundary_values_are_accepted(tmp_path: Path) -> None:
    path = write_minimal_plus(
        tmp_path,
        {
            "thresholds": {"error_rate": 1, "latency_vs_stable": 1, "significance_alpha": 0.5},
            "poll": {"window_s": 3600},
            "rollout": {"steps": [100], "shift_step": 100},
            "registry": {"max_retries": 10},
        },
    )
    config = load_config(path, env=ENV)
    assert config.thresholds.error_rate == 1.0
    assert config.rollout.steps == (100,)


@pytest.mark.parametrize("theme", ["", "   ", None, 5])
def test_theme_must_be_a_non_empty_name(tmp_path: Path, theme: object) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"theme": theme}))
    assert error.key == "theme"
    assert "a theme name (a non-empty string)" in error.message


def test_api_key_env_must_be_a_variable_name_and_is_never_echoed(tmp_path: Path) -> None:
    secret = "sk-live-0123456789abcdef"
    error = load_error(write_minimal_plus(tmp_path, {"relay": {"api_key_env": secret}}))
    assert error.key == "relay.api_key_env"
    assert "NAME of the variable" in error.message
    assert secret not in str(error)


def test_two_actions_on_one_key_are_refused(tmp_path: Path) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"keys": {"undo": "x", "quit": "x"}}))
    assert error.key == "keys.quit"
    assert "'x' is already bound to undo" in error.message


def test_duplicate_route_is_refused(tmp_path: Path) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"routes": ["a", "b", "a"]}))
    assert error.key == "routes[2]"
    assert "'a' is listed twice" in error.message


def test_empty_routes_list_is_refused(tmp_path: Path) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"routes": []}))
    assert error.key == "routes"
    assert "leave routes out" in error.message


# --- input with bounds ------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_not_read_as_a_config(device: str) -> None:
    error = load_error(Path(device))
    assert "is not a regular file" in str(error)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    assert "is not a regular file" in str(load_error(fifo))  # returns: does not block


def test_a_config_over_a_megabyte_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, "relay: {url: 'http://r/v1'}\n" + "#" * (1 << 20) + "\n")
    assert "is larger than 1 MB" in str(load_error(path))


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"poll": {"interval_s": 1.0e308}}, "poll.interval_s"),
        ({"poll": {"interval_s": 3601}}, "poll.interval_s"),
        ({"registry": {"timeout_s": 1.0e308}}, "registry.timeout_s"),
    ],
)
def test_intervals_and_timeouts_have_a_maximum_said_in_the_error(
    tmp_path: Path, extra: dict[str, Any], key: str
) -> None:
    error = load_error(write_minimal_plus(tmp_path, extra))
    assert key in str(error)
    assert "3600" in str(error) or "600" in str(error)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"registry": {"tracking_uri": "htp://admin:PW-sentinel@mlflow:5000"}}, "tracking_uri"),
        ({"registry": {"tracking_uri": "http://admin:PW-sentinel@"}}, "tracking_uri"),
        ({"relay": {"url": "ftp://admin:PW-sentinel@relay/v1"}}, "relay.url"),
    ],
)
def test_a_password_in_a_bad_url_is_masked_in_the_error(
    tmp_path: Path, extra: dict[str, Any], key: str
) -> None:
    error = str(load_error(write_minimal_plus(tmp_path, extra)))
    assert key in error and "PW-sentinel" not in error and "***@" in error


@pytest.mark.parametrize(
    ("notify", "key", "said"),
    [
        ({"bell": "yes"}, "notify.bell", "expected true or false"),
        (
            {"on": ["breach", "brech"]},
            "notify.on[1]",
            "'brech' is not an alert kind; allowed: breach",
        ),
        (
            {"urls": ["json://ok.example/x", "hooks.example/tok-SECRET"]},
            "notify.urls[1]",
            "Apprise URL",
        ),
        ({"urls": [" slack://tok-SECRET"]}, "notify.urls[0]", "Apprise URL"),
        ({"urls": "slack://tok-SECRET/B/C"}, "notify.urls", "a list of Apprise URLs"),
        ({"urls": {"a": "slack://tok-SECRET"}}, "notify.urls", "a list of Apprise URLs"),
        ({"source_down_after_s": 1e308}, "notify.source_down_after_s", "<= 3600"),
        ({"webhook_timeout_s": 0}, "notify.webhook_timeout_s", "> 0"),
        ({"beel": True}, "notify.beel", "did you mean 'bell'?"),
    ],
)
def test_a_bad_notify_section_is_named_and_never_echoes_a_webhook_url(
    tmp_path: Path, notify: dict[str, Any], key: str, said: str
) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"notify": notify}))
    assert error.key == key and said in error.message
    assert "tok-SECRET" not in str(error)


def test_notify_defaults_and_a_full_section(tmp_path: Path) -> None:
    from ftops_tui.settings.config import NotifyConfig, load_config

    assert load_config(write_minimal_plus(tmp_path, {})).notify == NotifyConfig()
    full = {
        "bell": False, "desktop": True, "urls": ["json://127.0.0.1:9/h"], "on": ["breach"],
        "source_down_after_s": 5, "clear_after_s": 0, "on_clear": False, "repeat_after_s": 60,
        "webhook_timeout_s": 2,
    }  # fmt: skip
    got = load_config(write_minimal_plus(tmp_path, {"notify": full})).notify
    assert "127.0.0.1:9" not in repr(got)  # a crash report's locals never show a URL
    assert got == NotifyConfig(
        bell=False, desktop=True, urls=("json://127.0.0.1:9/h",), on=("breach",),
        source_down_after_s=5.0, clear_after_s=0.0, on_clear=False, repeat_after_s=60.0,
        webhook_timeout_s=2.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("metrics", "key", "said"),
    [
        ({"source": "promethues"}, "metrics.source", "allowed: relay, prometheus"),
        ({"source": "prometheus"}, "metrics.prometheus_url", "required key is missing"),
        (
            {"source": "prometheus", "prometheus_url": "ftp://x"},
            "metrics.prometheus_url",
            "base URL",
        ),
        ({"queries": {"error_count": "x"}}, "metrics.queries.error_count", "allowed keys"),
        # A signal's query needs the signal shown (metrics.extra).
        ({"queries": {"input_novelty": "x"}}, "metrics.queries.input_novelty", "allowed keys"),
        ({"queries": {"error_rate": ""}}, "metrics.queries.error_rate", "a PromQL query"),
        (
            {"queries": {"error_rate": 'rate(x{version="{version_tag}"}[{window}])'}},
            "metrics.queries.error_rate",
            "one series per `version_tag`",
        ),
    ],
)
def test_a_bad_metrics_section_is_named(
    tmp_path: Path, metrics: dict[str, Any], key: str, said: str
) -> None:
    error = load_error(write_minimal_plus(tmp_path, {"metrics": metrics}))
    assert error.key == key and said in error.message


def test_prometheus_as_the_metrics_source(tmp_path: Path) -> None:
    from ftops_tui.settings.config import load_config

    got = load_config(
        write_minimal_plus(
            tmp_path,
            {"metrics": {"source": "prometheus", "prometheus_url": "http://prom:9090/",
                         "queries": {"error_rate": "sum(x[{window}])"}}},
        )
    ).metrics  # fmt: skip
    assert (got.source, got.prometheus_url) == ("prometheus", "http://prom:9090")
    assert dict(got.queries) == {"error_rate": "sum(x[{window}])"}
    novelty = "avg by (version_tag) (novelty_score[{window}])"
    got = load_config(
        write_minimal_plus(
            tmp_path,
            {"metrics": {"source": "prometheus", "prometheus_url": "http://prom:9090/",
                         "extra": ["input_novelty"], "queries": {"input_novelty": novelty}}},
        )
    ).metrics  # fmt: skip
    assert dict(got.queries) == {"input_novelty": novelty}


# --- contexts -------------------------------------------------------------------------------

CONTEXTS = """\
    relay: {timeout_s: 3}
    registry: {tracking_uri: sqlite:///shared.db}
    audit: {path: audit.db}
    contexts:
      staging:
        relay: {url: http://relay.staging:8787/v1}
      production:
        relay: {url: https://relay.prod/v1, api_key_env: PROD_RELAY_KEY}
        registry: {tracking_uri: https://mlflow.prod}
        audit: {path: prod-audit.db}
        read_only: true
    default_context: production
"""


def test_each_context_overrides_the_top_levels_relay_registry_and_audit(tmp_path: Path) -> None:
    path = write(tmp_path, CONTEXTS)
    # $MLFLOW_TRACKING_URI stands in for the top level's URI, never for a context's own.
    config = load_config(path, env={**ENV, "MLFLOW_TRACKING_URI": "http://other:5000"})
    assert (config.context, config.read_only, config.contexts) == (
        "production", True, ("staging", "production"),
    )  # fmt: skip
    assert config.relay == RelayConfig("https://relay.prod/v1", "PROD_RELAY_KEY", timeout_s=3.0)
    assert config.registry.tracking_uri == "https://mlflow.prod"
    assert config.audit.path == tmp_path / "prod-audit.db"
    staging = config.for_context("staging")
    assert (staging.context, staging.read_only) == ("staging", False)
    assert staging.relay == RelayConfig("http://relay.staging:8787/v1", timeout_s=3.0)
    assert staging.registry.tracking_uri == "http://other:5000"
    assert staging.audit.path == tmp_path / "audit.db"
    assert staging.for_context(None) is config and config.for_context("staging") is staging
    with pytest.raises(ConfigError, match="no context 'prod'; the contexts are: staging, prod"):
        config.for_context("prod")
    plain = load_config(write(tmp_path, yaml.safe_dump(MINIMAL), "plain.yaml"), env=ENV)
    assert plain.for_context(None) is plain and plain.contexts == () and plain.context == ""
    with pytest.raises(ConfigError, match="--context 'staging' given, but this config has none"):
        plain.for_context("staging")


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ("    default_context: production", "default_context",
         "'nope' is not a context; the contexts: staging, production"),
        ("        read_only: true", "contexts.production.read_only", "expected true or false"),
        ("        relay: {url: https://relay.prod/v1, api_key_env: PROD_RELAY_KEY}",
         "contexts.production.relay.timout_s", "unknown key 'timout_s'"),
        ("        relay: {url: http://relay.staging:8787/v1}", "contexts.staging.relay.url",
         "required key is missing"),
        ("      staging:", "contexts.stag ing", "is not a context name"),
        ("    relay: {timeout_s: 3}", "relay.timeout_s", "out of range"),
    ],
)  # fmt: skip
def test_a_bad_context_is_named_where_it_is(
    tmp_path: Path, change: str, key: str, words: str
) -> None:
    bad = {
        "    default_context: production": "    default_context: nope",
        "        read_only: true": "        read_only: 'yes'",
        "        relay: {url: https://relay.prod/v1, api_key_env: PROD_RELAY_KEY}":
            "        relay: {url: https://relay.prod/v1, timout_s: 3}",
        "        relay: {url: http://relay.staging:8787/v1}": "        relay: {timeout_s: 2}",
        "      staging:": "      stag ing:",
        "    relay: {timeout_s: 3}": "    relay: {timeout_s: -3}",
    }[change]  # fmt: skip
    error = load_error(write(tmp_path, CONTEXTS.replace(change, bad)))
    assert error.key == key and words in error.message


def test_gates_eval_is_read_and_checked(tmp_path: Path) -> None:
    path = write_minimal_plus(tmp_path, {"gates": {"eval": {
        "higher_is_better": ["eval.accuracy"], "lower_is_better": ["eval.toxicity"],
        "tolerance": 0.01, "missing": "warn"}}})  # fmt: skip
    gate = load_config(path, env=ENV).gates.eval
    assert (gate.higher_is_better, gate.lower_is_better, gate.tolerance, gate.missing) == (
        ("eval.accuracy",), ("eval.toxicity",), 0.01, "warn",
    )  # fmt: skip
    bad = write_minimal_plus(tmp_path, {"gates": {"eval": {"missing": "ignore"}}})
    error = load_error(bad)
    assert error.key == "gates.eval.missing" and "allowed: block, warn" in error.message
    both = write_minimal_plus(
        tmp_path, {"gates": {"eval": {"higher_is_better": ["x"], "lower_is_better": ["x"]}}}
    )
    assert "also in higher_is_better" in load_error(both).message


def test_a_context_may_have_its_own_metrics_source_and_routes_and_a_bad_section_is_named(
    tmp_path: Path,
) -> None:
    text = CONTEXTS.replace(
        "        read_only: true",
        "        read_only: true\n        routes: [support-bot-production]\n"
        "        metrics: {source: prometheus, prometheus_url: http://prom.prod:9090}",
    )
    config = load_config(write(tmp_path, text), env=ENV)
    assert config.routes == ("support-bot-production",)
    assert config.metrics.prometheus_url == "http://prom.prod:9090"
    staging = config.for_context("staging")
    assert staging.routes is None and staging.metrics.source == "relay"
    # A top-level section that is not a mapping is a config error, not a crash.
    bad = write(
        tmp_path, CONTEXTS.replace("    relay: {timeout_s: 3}", "    relay: nope"), "b.yaml"
    )
    error = load_error(bad)
    assert error.key == "relay" and "must be a mapping" in error.message
