"""The MLflow registry adapter against a real SQLite store, a real `mlflow server`, and
servers that refuse, stall or fail."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftops_tui.domain.vocabulary import SourceProblem
from ftops_tui.sources.problems import problem_of
from ftops_tui.sources.registry import (
    MlflowRegistry,
    RegistryError,
    RegistryNotFound,
    RegistrySnapshot,
    RegistryTimeout,
    RegistryUnreachable,
    RegistryVersion,
)

MODEL = "support-bot"
REPO_ROOT = Path(__file__).resolve().parents[1]
SENTINEL = "s3cret-sentinel"


def _assert_demo_snapshot(snap: RegistrySnapshot) -> None:
    versions = [v for v in snap.versions if v.model == MODEL]
    assert [v.version for v in versions] == ["1", "2", "3"]
    v1, v2, v3 = versions

    assert v1.version_tag == "support-bot-v1"
    assert v2.version_tag == "support-bot-v2"
    assert v1.aliases == ("champion",)
    assert v2.aliases == ()
    assert v1.tags["relay.version_tag"] == "support-bot-v1"
    assert v1.eval_scores == {"eval.accuracy": 0.91, "eval.toxicity": 0.02}
    assert v2.eval_scores == {"eval.accuracy": 0.93, "eval.toxicity": 0.03}
    # v3 is in the registry only, with what a deploy needs to register it on the relay.
    assert v3.version_tag == "support-bot-v3" and v3.aliases == ()
    assert v3.tags["relay.upstream_endpoint"] == "sim://support-bot-v3"
    for v in versions:
        assert v.status == "READY"
        assert v.run_id
        assert v.source == f"runs:/{v.run_id}/model"
        assert v.creation_timestamp > 0

    assert snap.by_version_tag("support-bot-v2") == v2
    assert snap.by_version_tag("no-such-tag") is None
    assert snap.stable_version_tag(MODEL, "champion") == "support-bot-v1"
    assert snap.stable_version_tag(MODEL, "no-such-alias") is None
    assert snap.stable_version_tag("no-such-model", "champion") is None


@pytest.fixture
def champion_restored(sqlite_registry_uri: str) -> Iterator[MlflowRegistry]:
    """A registry on the shared SQLite store; `champion` is put back on v1 afterwards."""
    registry = MlflowRegistry(sqlite_registry_uri)
    yield registry
    registry.set_alias(MODEL, "champion", "1")


# ------------------------------------------------------------------------------- reading


def test_snapshot_reads_versions_aliases_tags_scores_and_join_key_from_sqlite(
    sqlite_registry_uri: str,
) -> None:
    registry = MlflowRegistry(sqlite_registry_uri)
    _assert_demo_snapshot(registry.snapshot())
    _assert_demo_snapshot(registry.snapshot([MODEL]))


def test_aliases_are_read_from_the_registered_model_not_from_search_results(
    sqlite_registry_uri: str,
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=sqlite_registry_uri, registry_uri=sqlite_registry_uri)
    searched = client.search_model_versions(f"name = '{MODEL}'")
    # The premise: SQLite's search results carry no aliases, so an adapter reading them there
    # would show no champion at all.
    assert searched
    assert all(not mv.aliases for mv in searched)

    snap = MlflowRegistry(sqlite_registry_uri).snapshot([MODEL])
    assert {v.version: v.aliases for v in snap.versions} == {"1": ("champion",), "2": (), "3": ()}


def test_snapshot_through_a_real_mlflow_server(mlflow_server_uri: str) -> None:
    registry = MlflowRegistry(mlflow_server_uri)
    _assert_demo_snapshot(registry.snapshot())

    registry.set_alias(MODEL, "champion", "2")
    try:
        assert registry.snapshot([MODEL]).stable_version_tag(MODEL, "champion") == "support-bot-v2"
    finally:
        registry.set_alias(MODEL, "champion", "1")
    assert registry.snapshot([MODEL]).stable_version_tag(MODEL, "champion") == "support-bot-v1"

    with pytest.raises(RegistryNotFound):
        registry.snapshot(["no-such-model"])


def test_version_is_hashable_and_its_tags_are_read_only(sqlite_registry_uri: str) -> None:
    v1 = MlflowRegistry(sqlite_registry_uri).snapshot([MODEL]).versions[0]
    assert hash(v1) == hash(v1)
    with pytest.raises(TypeError):
        v1.tags["relay.version_tag"] = "other"  # type: ignore[index]


def test_eval_scores_keep_only_eval_tags_that_parse_as_floats() -> None:
    version = RegistryVersion(
        model="m",
        version="3",
        aliases=(),
        tags=types.MappingProxyType(
            {
                "eval.accuracy": "0.5",
                "eval.note": "looks good",
                "eval.nan": "nan",
                "evaluation.accuracy": "0.7",
                "accuracy": "0.9",
            }
        ),
        version_tag=None,
        status="READY",
        run_id=None,
        source="s3://x",
        creation_timestamp=0,
    )
    assert version.eval_scores == {"eval.accuracy": 0.5}


# ------------------------------------------------------------------------------- writing


def test_set_alias_moves_champion_and_a_fresh_snapshot_shows_it(
    sqlite_registry_uri: str, champion_restored: MlflowRegistry
) -> None:
    champion_restored.set_alias(MODEL, "champion", "2")

    snap = MlflowRegistry(sqlite_registry_uri).snapshot([MODEL])
    assert {v.version: v.aliases for v in snap.versions} == {"1": (), "2": ("champion",), "3": ()}
    assert snap.stable_version_tag(MODEL, "champion") == "support-bot-v2"


def test_set_version_tag_is_visible_in_the_next_snapshot(sqlite_registry_uri: str) -> None:
    registry = MlflowRegistry(sqlite_registry_uri)
    registry.set_version_tag(MODEL, "2", "ftops.reviewed_by", "test-suite")

    v2 = registry.snapshot([MODEL]).by_version_tag("support-bot-v2")
    assert v2 is not None
    assert v2.tags["ftops.reviewed_by"] == "test-suite"
    assert v2.eval_scores == {"eval.accuracy": 0.93, "eval.toxicity": 0.03}


def test_unknown_model_or_version_raises_registry_not_found(sqlite_registry_uri: str) -> None:
    registry = MlflowRegistry(sqlite_registry_uri)
    with pytest.raises(RegistryNotFound, match="no-such-model"):
        registry.snapshot(["no-such-model"])
    with pytest.raises(RegistryNotFound):
        registry.set_alias("no-such-model", "champion", "1")
    with pytest.raises(RegistryNotFound):
        registry.set_version_tag(MODEL, "999", "k", "v")


async def test_fetch_and_move_alias_work_from_asyncio(
    sqlite_registry_uri: str, champion_restored: MlflowRegistry
) -> None:
    _assert_demo_snapshot(await champion_restored.fetch())

    await champion_restored.move_alias(MODEL, "champion", "2")
    snap = await champion_restored.fetch([MODEL])
    assert snap.stable_version_tag(MODEL, "champion") == "support-bot-v2"


# ------------------------------------------------------------------------------- failures


@pytest.mark.timeout(30)
def test_dead_server_raises_registry_unreachable_quickly(dead_server_url: str) -> None:
    registry = MlflowRegistry(dead_server_url, timeout_s=1, max_retries=0)
    with pytest.raises(RegistryUnreachable):
        registry.snapshot()
    with pytest.raises(RegistryUnreachable):
        registry.set_alias(MODEL, "champion", "1")


@pytest.mark.timeout(30)
def test_silent_server_raises_registry_unreachable_after_the_timeout(
    silent_server_url: str,
) -> None:
    registry = MlflowRegistry(silent_server_url, timeout_s=1, max_retries=0)
    with pytest.raises(RegistryUnreachable, match=r"(?i)timed? ?out"):
        registry.snapshot([MODEL])


@pytest.mark.timeout(30)
def test_server_answering_503_raises_registry_unreachable(unavailable_server_url: str) -> None:
    registry = MlflowRegistry(unavailable_server_url, timeout_s=1, max_retries=0)
    with pytest.raises(RegistryUnreachable):
        registry.snapshot()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("server", ["dead_server_url", "unavailable_server_url"])
def test_credentials_in_the_uri_never_appear_in_display_or_errors(
    server: str, request: pytest.FixtureRequest
) -> None:
    base: str = request.getfixturevalue(server)
    host_port = base.removeprefix("http://")
    registry = MlflowRegistry(f"http://user:{SENTINEL}@{host_port}", timeout_s=1, max_retries=0)

    assert registry.uri_for_display == base
    assert SENTINEL not in repr(registry)

    with pytest.raises(RegistryError) as info:
        registry.snapshot()
    assert isinstance(info.value, RegistryUnreachable)
    for text in (str(info.value), repr(info.value), info.value.message):
        assert SENTINEL not in text
        assert "user:" not in text
    assert host_port in str(info.value)


def test_uri_for_display_strips_only_the_userinfo() -> None:
    assert MlflowRegistry("http://127.0.0.1:5000").uri_for_display == "http://127.0.0.1:5000"
    assert (
        MlflowRegistry("https://alice:pw@mlflow.example:443/prefix").uri_for_display
        == "https://mlflow.example:443/prefix"
    )
    assert MlflowRegistry("sqlite:////tmp/x.db").uri_for_display == "sqlite:////tmp/x.db"


# ------------------------------------------------------------------------------- import cost


def test_importing_the_registry_module_does_not_import_mlflow() -> None:
    code = (
        "import sys\n"
        "import ftops_tui.sources.registry, ftops_tui.sources.registry_seed\n"
        "loaded = sorted(m for m in sys.modules if m == 'mlflow' or m.startswith('mlflow.'))\n"
        "assert not loaded, loaded\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_model_names_with_quotes_or_backslashes_are_read(sqlite_registry_uri: str) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=sqlite_registry_uri, registry_uri=sqlite_registry_uri)
    source = MlflowRegistry(sqlite_registry_uri).snapshot([MODEL]).versions[0]
    names = ["o'brien-bot", 'say-"hi"-bot', "both'\"-bot", "back\\slash-bot"]
    for name in names:
        client.create_registered_model(name)
        client.create_model_version(
            name, source.source, run_id=source.run_id, tags={"relay.version_tag": f"{name}-v1"}
        )

    snap = MlflowRegistry(sqlite_registry_uri).snapshot(names)
    assert [(v.model, v.version, v.version_tag) for v in snap.versions] == [
        (name, "1", f"{name}-v1") for name in names
    ]


def test_seeding_again_changes_nothing(sqlite_registry_uri: str) -> None:
    from ftops_tui.sources.registry_seed import seed_demo_registry

    registry = MlflowRegistry(sqlite_registry_uri)
    before = registry.snapshot([MODEL])
    seed_demo_registry(sqlite_registry_uri)
    assert registry.snapshot([MODEL]) == before


@pytest.mark.parametrize("store", ["sqlite", "mlflow server"])
def test_alias_and_tag_writes_are_read_back_from_either_store(
    store: str, sqlite_registry_uri: str, mlflow_server_uri: str
) -> None:
    # The values the stores were seeded with: each is a real write, and the shared stores
    # stay as they were.
    uri = sqlite_registry_uri if store == "sqlite" else mlflow_server_uri
    registry = MlflowRegistry(uri)
    registry.set_alias("support-bot", "champion", "1")
    registry.set_version_tag("support-bot", "2", "relay.version_tag", "support-bot-v2")
    snap = registry.snapshot(["support-bot"])
    assert snap.stable_version_tag("support-bot", "champion") == "support-bot-v1"
    assert [v.version_tag for v in snap.versions] == [
        "support-bot-v1", "support-bot-v2", "support-bot-v3",
    ]  # fmt: skip


class TricklingServer:
    """An HTTP server on loopback that answers one byte every half second, for ever: no
    single read ever times out, only a deadline on the whole call can end it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 100:
                if self.stop.wait(0.5):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def __enter__(self) -> TricklingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


async def test_a_registry_answering_a_byte_at_a_time_is_cut_off_by_the_deadline() -> None:
    with TricklingServer() as server:
        registry = MlflowRegistry(
            f"http://127.0.0.1:{server.port}", timeout_s=1.0, first_call_allowance_s=0.0
        )
        assert registry.deadline_s(first=True) == 3.0
        started = time.monotonic()
        with pytest.raises(RegistryTimeout, match="no answer within 3 s"):
            await registry.fetch()
        assert time.monotonic() - started < 10
        assert problem_of(RegistryTimeout("x")) is SourceProblem.TIMEOUT
        # The next poll does not start a second call beside the one still in flight.
        with pytest.raises(RegistryTimeout):
            await registry.fetch()
        assert server.connections == 1
