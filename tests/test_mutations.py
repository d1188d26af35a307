"""One mutation path, against the reference relay over loopback, real SQLite audit files and
the real SQLite MLflow store: what is applied, refused, conflicting, rejected or unknown, and
what the audit log says about each."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures.relay import RELAY_KEY, world

from ftops_tui.changes.service import MutationService, undo_proposal
from ftops_tui.domain.models import Route, Rule, Rules, rules_to_mapping
from ftops_tui.domain.overview import RegistryFacts
from ftops_tui.domain.proposals import (
    NoProposal,
    Proposal,
    promote_proposal,
    rollback_proposal,
    set_weights_proposal,
    shift_proposal,
    step_proposal,
)
from ftops_tui.relay_server.app import RelaySettings
from ftops_tui.relay_server.scenario import scenario_from_dict
from ftops_tui.relay_server.server import RelayServer
from ftops_tui.sources.audit import AuditStore, rules_from_json
from ftops_tui.sources.registry import MlflowRegistry, registry_facts
from ftops_tui.sources.relay_client import RelayClient

ACTOR = "tester@ci-host via 10.9.8.7"


def rules(*pairs: tuple[str, int]) -> Rules:
    return tuple(Rule(tag, weight) for tag, weight in pairs)


async def new_route(client: RelayClient, *pairs: tuple[str, int]) -> Route:
    """A route of this test's own on the shared relay (90/10 between bot-v1 and bot-v2)."""
    pairs = pairs or (("bot-v1", 90), ("bot-v2", 10))
    return await client.create_route(
        {
            "route_id": f"mut-{uuid.uuid4().hex[:10]}",
            "route_rules": [{"version_tag": t, "weight": w} for t, w in pairs],
        }
    )


def proposal(route: Route, **weights: int) -> Proposal:
    made = set_weights_proposal(route, {k.replace("_", "-"): v for k, v in weights.items()}, "ci")
    assert isinstance(made, Proposal)
    return made


async def route_events(client: RelayClient, route_id: str, after_seq: int = 0) -> list[Any]:
    return [e for e in (await client.events(after_seq)).events if e.route_id == route_id]


@pytest.fixture
def audit(tmp_path: Path) -> AuditStore:
    return AuditStore(tmp_path / "state" / "audit.db", secrets=[RELAY_KEY])


@pytest.fixture
def service(client: RelayClient, audit: AuditStore) -> MutationService:
    return MutationService(client, audit, ACTOR)


def outcome_rows(audit: AuditStore, route_id: str) -> list[dict[str, Any]]:
    return [r for r in audit.rows(route_id) if r["kind"] == "outcome"]


# ------------------------------------------------------------------------------- applied


async def test_applied_change_writes_intent_and_outcome_with_actor_reason_revisions(
    client: RelayClient, service: MutationService, audit: AuditStore
) -> None:
    route = await new_route(client)
    outcome = await service.apply(proposal(route, bot_v1=50, bot_v2=50))

    assert outcome.status == "applied", outcome.message
    assert outcome.route is not None and outcome.route.revision == 2
    assert outcome.route.updated_by == ACTOR
    assert rules_to_mapping(outcome.route.route_rules) == {"bot-v1": 50, "bot-v2": 50}
    assert "revision 2" in outcome.message

    out, intent = audit.rows(route.route_id)
    assert intent["kind"] == "intent" and intent["id"] == outcome.intent_id
    assert (intent["action"], intent["actor"], intent["reason"]) == ("set_weights", ACTOR, "ci")
    assert intent["expected_revision"] == 1
    assert rules_from_json(intent["before_json"]) == route.route_rules
    assert out["kind"] == "outcome" and out["intent_id"] == intent["id"]
    assert (out["status"], out["revision"], out["error"]) == ("applied", 2, "")
    assert rules_from_json(out["after_json"]) == rules(("bot-v1", 50), ("bot-v2", 50))
    changes = await route_events(client, route.route_id)
    (event,) = [e for e in changes if e.kind == "weights_changed"]
    assert event.actor == ACTOR and event.reason == "ci"


async def test_an_outcome_says_when_its_read_back_was_sent(
    client: RelayClient, service: MutationService
) -> None:
    route = await new_route(client)
    before = time.monotonic()
    outcome = await service.apply(proposal(route, bot_v1=50, bot_v2=50))
    assert outcome.status == "applied" and outcome.read_at is not None
    assert before < outcome.read_at < time.monotonic()


# ------------------------------------------------------------------------------- conflict


async def test_another_writer_between_read_and_apply_is_a_conflict_and_their_weights_stay(
    client: RelayClient, service: MutationService, audit: AuditStore
) -> None:
    route = await new_route(client)
    mine = proposal(route, bot_v1=50, bot_v2=50)
    theirs = rules(("bot-v1", 100), ("bot-v2", 0))
    await client.patch_route(route.route_id, theirs, expected_revision=1, actor="bob@bastion-2")

    outcome = await service.apply(mine)

    assert outcome.status == "conflict"
    assert "bob@bastion-2" in outcome.message and "bot-v1 100%" in outcome.message
    assert "nothing was overwritten" in outcome.message
    now = await client.get_route(route.route_id)
    assert now.route_rules == theirs and now.revision == 2
    assert outcome.route == now
    (out,) = outcome_rows(audit, route.route_id)
    assert (out["status"], out["revision"]) == ("conflict", 2)
    assert rules_from_json(out["after_json"]) == theirs


# ------------------------------------------------------------------------------- rejected


async def test_a_422_from_the_relay_is_rejected_with_its_message(
    client: RelayClient, service: MutationService, audit: AuditStore
) -> None:
    route = await new_route(client)
    unknown = dataclasses.replace(
        proposal(route, bot_v1=50, bot_v2=50),
        after=rules(("bot-v1", 50), ("no-such-version", 50)),
    )
    outcome = await service.apply(unknown)
    assert outcome.status == "rejected"
    assert "unknown version no-such-version" in outcome.message
    assert (await client.get_route(route.route_id)).revision == 1
    (out,) = outcome_rows(audit, route.route_id)
    assert out["status"] == "rejected" and "no-such-version" in out["error"]


# ------------------------------------------------------------------------------- the relay dies


async def test_a_patch_that_times_out_is_unverified_never_applied(
    relay: RelayServer, admin: httpx.Client, client: RelayClient, audit: AuditStore
) -> None:
    route = await new_route(client)
    admin.post("/admin/faults", json={"mode": "slow", "delay_s": 1.0, "remaining": 1})
    async with RelayClient(relay.url, api_key=RELAY_KEY, timeout_s=0.3) as impatient:
        outcome = await MutationService(impatient, audit, ACTOR).apply(
            proposal(route, bot_v1=50, bot_v2=50)
        )
    # The GET after the timeout still saw revision 1, but the PATCH may have been on its way:
    # only "unverified" is honest.
    assert outcome.status == "unverified", outcome.message
    assert "outcome unknown" in outcome.message and "check the route" in outcome.message
    (out,) = outcome_rows(audit, route.route_id)
    assert out["status"] == "unverified" and "timeout" in out["error"]


async def test_a_500_on_the_patch_is_failed_once_the_read_back_shows_nothing_changed(
    admin: httpx.Client, client: RelayClient, service: MutationService, audit: AuditStore
) -> None:
    route = await new_route(client)
    admin.post("/admin/faults", json={"mode": "internal", "remaining": 1})
    outcome = await service.apply(proposal(route, bot_v1=50, bot_v2=50))
    assert outcome.status == "failed", outcome.message
    assert "nothing changed" in outcome.message
    assert (await client.get_route(route.route_id)).revision == 1
    assert [r["status"] for r in outcome_rows(audit, route.route_id)] == ["failed"]


async def test_a_stopped_relay_gives_failed_or_unverified_never_applied(audit: AuditStore) -> None:
    settings = RelaySettings(api_key=RELAY_KEY, scenario=scenario_from_dict(world("gone")))
    server = RelayServer(settings).start()
    try:
        async with RelayClient(server.url, api_key=RELAY_KEY, timeout_s=1.0) as client:
            route = await client.get_route("gone-production")
            server.stop()
            outcome = await MutationService(client, audit, ACTOR).apply(
                proposal(route, gone_v1=50, gone_v2=50)
            )
    finally:
        server.stop()
    assert outcome.status in ("failed", "unverified"), outcome.message
    assert outcome.route is None
    (out,) = outcome_rows(audit, "gone-production")
    assert out["status"] == outcome.status and out["error"]


async def test_an_outcome_row_that_cannot_be_written_is_said_loudly_and_the_change_stands(
    tmp_path: Path, admin: httpx.Client, client: RelayClient
) -> None:
    state = tmp_path / "state"
    audit = AuditStore(state / "audit.db")
    route = await new_route(client)
    admin.post("/admin/faults", json={"mode": "slow", "delay_s": 0.6, "remaining": 1})
    service = MutationService(client, audit, ACTOR)
    applying = asyncio.create_task(service.apply(proposal(route, bot_v1=50, bot_v2=50)))
    # While the relay holds the PATCH, the audit directory is replaced by a regular file.
    for _ in range(100):
        await asyncio.sleep(0.01)
        if audit.path.exists() and AuditStore(audit.path).rows():
            break
    state.rename(tmp_path / "moved")
    state.write_text("in the way")
    outcome = await asyncio.wait_for(applying, timeout=10)

    assert outcome.status == "applied"
    assert outcome.message.startswith("AUDIT OUTCOME NOT RECORDED") and outcome.unrecorded
    assert f"intent {outcome.intent_id}" in outcome.message
    assert rules_to_mapping((await client.get_route(route.route_id)).route_rules) == {
        "bot-v1": 50,
        "bot-v2": 50,
    }
    rows = AuditStore(tmp_path / "moved" / "audit.db").rows()
    assert [r["kind"] for r in rows] == ["intent"]

    # The log comes back: the next change that writes its outcome also writes the one owed.
    state.unlink()
    (tmp_path / "moved").rename(state)
    now = await client.get_route(route.route_id)
    after = await service.apply(proposal(now, bot_v1=60, bot_v2=40))
    assert after.status == "applied" and not after.unrecorded
    owed = [r for r in audit.rows(route.route_id) if r["intent_id"] == outcome.intent_id]
    assert len(owed) == 1 and owed[0]["status"] == "unverified"
    assert (
        owed[0]["error"].startswith("outcome recorded late") and "applied then" in owed[0]["error"]
    )
    assert rules_from_json(owed[0]["after_json"]) == (Rule("bot-v1", 50), Rule("bot-v2", 50))


async def test_quitting_mid_patch_leaves_an_unverified_outcome_not_a_dangling_intent(
    admin: httpx.Client, client: RelayClient, audit: AuditStore
) -> None:
    route = await new_route(client)
    admin.post("/admin/faults", json={"mode": "slow", "delay_s": 0.5, "remaining": 1})
    applying = asyncio.create_task(
        MutationService(client, audit, ACTOR).apply(proposal(route, bot_v1=50, bot_v2=50))
    )
    await intent_written(audit)
    await asyncio.sleep(0.1)  # past the intent row: the PATCH is held by the slow fault
    applying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(applying, timeout=5)
    outcome, intent = audit.rows(route.route_id)
    assert outcome["intent_id"] == intent["id"] and outcome["status"] == "unverified"
    assert "cancelled" in outcome["error"]


async def intent_written(audit: AuditStore) -> None:
    for _ in range(100):
        await asyncio.sleep(0.01)
        if audit.path.exists() and audit.rows():
            return
    raise AssertionError("no intent row after 1 s")


class SlowIntentAudit(AuditStore):
    """The real store, with the thread kept busy after the intent row is written."""

    def record_intent(self, **row: Any) -> int:
        written = super().record_intent(**row)
        time.sleep(0.3)
        return written


async def test_quitting_while_the_intent_is_written_records_that_nothing_was_sent(
    tmp_path: Path, client: RelayClient
) -> None:
    audit = SlowIntentAudit(tmp_path / "audit.db")
    route = await new_route(client)
    applying = asyncio.create_task(
        MutationService(client, audit, ACTOR).apply(proposal(route, bot_v1=50, bot_v2=50))
    )
    await intent_written(audit)
    applying.cancel()
    await asyncio.sleep(0)
    applying.cancel()  # twice, as when asyncio.run cancels what is left on quitting
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(applying, timeout=5)
    # The cancel waits for nothing (a second cancel, as when asyncio.run tears down, could
    # cut it short): the thread writes the outcome once the intent row is in.
    for _ in range(100):
        if len(audit.rows(route.route_id)) == 2:
            break
        await asyncio.sleep(0.02)
    outcome, intent = audit.rows(route.route_id)
    assert outcome["intent_id"] == intent["id"] and outcome["status"] == "failed"
    assert outcome["error"] == "cancelled before it was sent"
    assert (await client.get_route(route.route_id)).revision == route.revision


# ------------------------------------------------------------------------------- refused


async def test_an_unwritable_audit_log_means_nothing_is_sent(
    tmp_path: Path, client: RelayClient
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    audit = AuditStore(blocker / "audit.db")
    route = await new_route(client)
    last_seq = (await client.events()).last_seq

    outcome = await MutationService(client, audit, ACTOR).apply(
        proposal(route, bot_v1=50, bot_v2=50)
    )

    assert outcome.status == "refused" and outcome.intent_id is None
    assert "audit log unavailable" in outcome.message and "nothing was sent" in outcome.message
    assert str(blocker / "audit.db") in outcome.message
    assert (await client.get_route(route.route_id)).revision == 1
    assert await route_events(client, route.route_id, after_seq=last_seq) == []


@pytest.mark.parametrize(
    ("after", "reason", "words"),
    [
        (rules(("bot-v1", 60), ("bot-v2", 60)), "ci", "must sum to 100"),
        (rules(("bot-v1", 50), ("bot-v2", 50)), "   ", "a reason is required"),
    ],
)
async def test_invalid_weights_or_no_reason_are_refused_before_any_row(
    client: RelayClient,
    service: MutationService,
    audit: AuditStore,
    after: Rules,
    reason: str,
    words: str,
) -> None:
    route = await new_route(client)
    bad = dataclasses.replace(proposal(route, bot_v1=50, bot_v2=50), after=after, reason=reason)
    outcome = await service.apply(bad)
    assert outcome.status == "refused" and words in outcome.message
    assert not audit.path.exists()
    assert (await client.get_route(route.route_id)).revision == 1


# ------------------------------------------------------------------------------- secrets


async def test_the_relay_key_never_reaches_the_audit_file(
    client: RelayClient, service: MutationService, audit: AuditStore
) -> None:
    route = await new_route(client)
    leaky = dataclasses.replace(
        proposal(route, bot_v1=50, bot_v2=50), reason=f"oops pasted {RELAY_KEY}"
    )
    assert (await service.apply(leaky)).status == "applied"
    conflict = await service.apply(leaky)  # stale revision now: an error message is written too
    assert conflict.status == "conflict"
    for file in audit.path.parent.iterdir():
        assert RELAY_KEY.encode() not in file.read_bytes(), file.name
    events = await route_events(client, route.route_id)
    assert all(RELAY_KEY not in e.reason for e in events)


# ------------------------------------------------------------------------------- undo


async def test_undo_after_a_restart_restores_the_previous_rules_then_the_ones_before(
    tmp_path: Path, client: RelayClient
) -> None:
    path = tmp_path / "audit.db"
    route = await new_route(client)
    first = MutationService(client, AuditStore(path), ACTOR)
    assert (await first.apply(proposal(route, bot_v1=50, bot_v2=50))).status == "applied"
    route = await client.get_route(route.route_id)
    assert (await first.apply(proposal(route, bot_v1=0, bot_v2=100))).status == "applied"

    # A new console: new store and service on the same file.
    store = AuditStore(path)
    second = MutationService(client, store, ACTOR)
    for expected in ({"bot-v1": 50, "bot-v2": 50}, {"bot-v1": 90, "bot-v2": 10}):
        route = await client.get_route(route.route_id)
        undo = undo_proposal(route, store, ACTOR, "undo")
        assert isinstance(undo, Proposal) and undo.action == "undo"
        assert undo.expected_revision == route.revision
        outcome = await second.apply(undo)
        assert outcome.status == "applied", outcome.message
        assert rules_to_mapping((await client.get_route(route.route_id)).route_rules) == expected

    nothing = undo_proposal(await client.get_route(route.route_id), store, ACTOR, "undo")
    assert isinstance(nothing, NoProposal) and "left to undo" in nothing.message
    other = undo_proposal(await client.get_route(route.route_id), store, "someone@else", "x")
    assert isinstance(other, NoProposal)  # each actor undoes only their own changes


async def test_undo_refuses_to_overwrite_a_later_change_by_someone_else(
    client: RelayClient, service: MutationService, audit: AuditStore
) -> None:
    route = await new_route(client)
    assert (await service.apply(proposal(route, bot_v1=50, bot_v2=50))).status == "applied"
    await client.patch_route(
        route.route_id, rules(("bot-v1", 100), ("bot-v2", 0)), actor="relay:auto-rollback"
    )
    undo = undo_proposal(await client.get_route(route.route_id), audit, ACTOR, "undo")
    assert isinstance(undo, NoProposal)
    assert "relay:auto-rollback" in undo.message and "nothing was sent" in undo.message


# ------------------------------------------------------------------------------- promote


def make_model(uri: str, name: str, tags: Sequence[str], source: Path) -> None:
    """A registry model of the test's own (so `support-bot` is never touched)."""
    from mlflow import MlflowClient

    mlflow = MlflowClient(tracking_uri=uri, registry_uri=uri)
    mlflow.create_registered_model(name)
    for tag in tags:
        mlflow.create_model_version(name, source=str(source), tags={"relay.version_tag": tag})
    mlflow.set_registered_model_alias(name, "champion", "1")


async def promote_world(client: RelayClient) -> tuple[str, str, Route]:
    suffix = uuid.uuid4().hex[:8]
    old, new = f"promo-{suffix}-a", f"promo-{suffix}-b"
    for tag in (old, new):
        await client.create_version(
            {"version_tag": tag, "model": "acme/bot", "upstream_endpoint": "sim://bot-v1"}
        )
    return old, new, await new_route(client, (old, 75), (new, 25))


async def promote_setup(
    client: RelayClient, tmp_path: Path, uri: str, registry: MlflowRegistry
) -> tuple[str, str, Route, MlflowRegistry, Proposal]:
    """A route at 75/25 and a model of its own with `champion` on version 1; the proposal
    promotes version 2 (the canary)."""
    old, new, route = await promote_world(client)
    model = f"promo-model-{uuid.uuid4().hex[:8]}"
    make_model(uri, model, [old, new], tmp_path)
    facts = registry_facts(await registry.fetch([model]))
    made = promote_proposal(route, new, facts[new], "champion", "canary is good")
    assert isinstance(made, Proposal)
    return model, new, route, registry, made


async def test_promote_gives_100_percent_then_moves_the_alias_in_the_registry(
    tmp_path: Path, client: RelayClient, audit: AuditStore, sqlite_registry_uri: str
) -> None:
    model, new, route, registry, made = await promote_setup(
        client, tmp_path, sqlite_registry_uri, MlflowRegistry(sqlite_registry_uri)
    )
    outcome = await MutationService(client, audit, ACTOR, registry).apply(made)

    assert outcome.status == "applied" and outcome.alias_error is None, outcome.message
    assert f"{model} @champion now points to version 2" in outcome.message
    assert (await client.get_route(route.route_id)).weight_of(new) == 100
    snapshot = await registry.fetch([model])
    assert snapshot.stable_version_tag(model, "champion") == new
    rows = audit.rows(route.route_id)[::-1]
    assert [(r["kind"], r["action"], r["status"]) for r in rows] == [
        ("intent", "promote", None),
        ("outcome", "promote", "applied"),
        ("intent", "alias", None),
        ("outcome", "alias", "applied"),
    ]
    assert '"version":"1"' in rows[2]["before_json"] and '"version":"2"' in rows[3]["after_json"]
    # The promoted version says where and when it went out; the old stable stays at 0.
    from mlflow import MlflowClient

    tags = MlflowClient(tracking_uri=sqlite_registry_uri).get_model_version(model, "2").tags
    assert tags["deployment_target"] == route.route_id
    assert tags["deployed_at"].endswith("Z") and tags["deployed_at"][:2] == "20"
    after = await client.get_route(route.route_id)
    assert len(after.route_rules) == len(route.route_rules)
    assert sorted(r.weight for r in after.route_rules) == [0, 100]


async def test_an_alias_that_cannot_move_is_reported_as_weights_moved_alias_not(
    client: RelayClient, audit: AuditStore, sqlite_registry_uri: str
) -> None:
    _old, new, route = await promote_world(client)
    missing = RegistryFacts(model=f"no-such-model-{uuid.uuid4().hex[:8]}", version="1")
    made = promote_proposal(route, new, missing, "champion", "promote")
    assert isinstance(made, Proposal)
    registry = MlflowRegistry(sqlite_registry_uri)
    outcome = await MutationService(client, audit, ACTOR, registry).apply(made)

    assert outcome.status == "applied"
    assert outcome.alias_error
    assert outcome.message == (
        f"weights moved to 100% but alias champion was NOT moved: {outcome.alias_error}"
    )
    assert (await client.get_route(route.route_id)).weight_of(new) == 100
    alias_outcome = audit.rows(route.route_id)[0]
    assert (alias_outcome["action"], alias_outcome["status"]) == ("alias", "failed")


class SlowMoveRegistry(MlflowRegistry):
    """The real registry, with the console quitting while the alias move is on its way."""

    async def move_alias(self, model: str, alias: str, version: str) -> None:
        await asyncio.sleep(1.0)
        await super().move_alias(model, alias, version)


async def test_quitting_during_the_alias_move_leaves_it_unverified_not_pending(
    tmp_path: Path, client: RelayClient, audit: AuditStore, sqlite_registry_uri: str
) -> None:
    model, _new, route, registry, made = await promote_setup(
        client, tmp_path, sqlite_registry_uri, SlowMoveRegistry(sqlite_registry_uri)
    )
    applying = asyncio.create_task(MutationService(client, audit, ACTOR, registry).apply(made))
    for _ in range(250):
        await asyncio.sleep(0.02)
        if any(r["action"] == "alias" for r in audit.rows(route.route_id)):
            break
    # Past the intent row's thread (cancelled inside it, nothing was sent: `failed`), into the
    # registry call, which the slow registry holds for 1 s.
    await asyncio.sleep(0.3)
    applying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(applying, timeout=5)
    rows = audit.rows(route.route_id)[::-1]
    assert [(r["kind"], r["action"], r["status"]) for r in rows] == [
        ("intent", "promote", None),
        ("outcome", "promote", "applied"),
        ("intent", "alias", None),
        ("outcome", "alias", "unverified"),
    ]
    assert rows[3]["error"] == "cancelled while the change was in flight"
    # What it points to is not known, but which alias of which model it was is.
    assert json.loads(rows[3]["after_json"]) == {
        "model": model,
        "alias": "champion",
        "version": None,
    }


# ------------------------------------------------------------------------------- builders


def test_rolling_back_a_route_already_on_its_stable_version_sends_nothing_and_says_so() -> None:
    route = Route("r", rules(("a", 100), ("b", 0)), revision=4)
    made = rollback_proposal(route, "a", "why")
    assert isinstance(made, NoProposal) and "already at 100% on a" in made.message
    unknown = rollback_proposal(route, None, "why")
    assert isinstance(unknown, NoProposal) and "choose" in unknown.message
    back = rollback_proposal(Route("r", rules(("a", 60), ("b", 40)), 4), "a", "why")
    assert isinstance(back, Proposal) and back.action == "rollback"
    assert back.after == rules(("a", 100), ("b", 0)) and back.expected_revision == 4


def test_step_and_shift_build_from_the_route_as_read() -> None:
    route = Route("r", rules(("stable", 95), ("canary", 5)), revision=9)
    step = step_proposal(route, "canary", (5, 25, 50, 100), "stable", "next")
    assert isinstance(step, Proposal) and step.action == "step"
    assert step.after == rules(("stable", 75), ("canary", 25))
    shifted = shift_proposal(route, "canary", -10, "stable", "less")
    assert isinstance(shifted, Proposal) and shifted.action == "set_weights"
    assert shifted.after == rules(("stable", 100), ("canary", 0))
    top = Route("r", rules(("stable", 0), ("canary", 100)), revision=9)
    assert isinstance(step_proposal(top, "canary", (5, 100), "stable", "x"), NoProposal)


async def test_two_consoles_and_a_cli_changing_one_route_at_once_stay_consistent(
    client: RelayClient, relay_server: RelayServer, tmp_path: Path
) -> None:
    route = await new_route(client)
    path = tmp_path / "shared" / "audit.db"
    consoles = [
        MutationService(client, AuditStore(path, secrets=[RELAY_KEY]), f"{who}@bastion")
        for who in ("alice", "bob")
    ]
    config = tmp_path / "config.yaml"
    config.write_text(
        f"relay: {{url: '{relay_server.url}', api_key_env: CI_RELAY_KEY}}\n"
        f"registry: {{tracking_uri: 'sqlite:///{tmp_path / 'unused.db'}'}}\n"
        f"audit: {{path: '{path}'}}\n"
    )
    cli = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ftops_tui",
        "--config",
        str(config),
        "set-weights",
        route.route_id,
        "bot-v1=30",
        "bot-v2=70",
        "--reason",
        "runbook",
        "--yes",
        env={**os.environ, "CI_RELAY_KEY": RELAY_KEY},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # Both consoles saw the same revision; each asks for its own weights at the same moment.
    results = await asyncio.gather(
        consoles[0].apply(proposal(route, bot_v1=50, bot_v2=50)),
        consoles[1].apply(proposal(route, bot_v1=70, bot_v2=30)),
    )
    await asyncio.wait_for(cli.communicate(), timeout=60)
    assert cli.returncode in (0, 3)  # applied, or a conflict that overwrote nothing

    statuses = sorted(r.status for r in results)
    # One console wins, the other is told (the messages say why when not).
    assert statuses == ["applied", "conflict"], [r.message for r in results]
    rows = AuditStore(path).rows(route.route_id)
    by_id = {r["id"]: r for r in rows}
    outcomes = [r for r in rows if r["kind"] == "outcome"]
    intents = [r for r in rows if r["kind"] == "intent"]
    assert len(intents) == len(outcomes) == 3
    for outcome in outcomes:
        assert by_id[outcome["intent_id"]]["kind"] == "intent"
    applied = sorted((r for r in outcomes if r["status"] == "applied"), key=lambda r: r["revision"])
    # Every applied change moved the route by exactly one revision from what its writer saw,
    # and the route ends as the last applied change left it: no update was lost.
    for row in applied:
        assert row["revision"] == by_id[row["intent_id"]]["expected_revision"] + 1
    final = await client.get_route(route.route_id)
    assert final.revision == route.revision + len(applied)
    assert final.route_rules == rules_from_json(applied[-1]["after_json"])


class BrokenReadBack(RelayClient):
    """The real client, with a bug in reading the route back after the PATCH."""

    async def get_route(self, route_id: str) -> Route:
        raise RuntimeError("a bug in the read-back")


async def test_a_bug_after_the_patch_still_leaves_an_unverified_outcome_row(
    relay: Any, client: RelayClient, audit: AuditStore
) -> None:
    route = await new_route(client)
    async with BrokenReadBack(relay.url, api_key=RELAY_KEY, timeout_s=2.0) as broken:
        with pytest.raises(RuntimeError):
            await MutationService(broken, audit, ACTOR).apply(proposal(route, bot_v1=50, bot_v2=50))
    outcome, intent = audit.rows(route.route_id)[:2]
    assert (intent["kind"], outcome["kind"], outcome["intent_id"]) == (
        "intent",
        "outcome",
        intent["id"],
    )
    assert outcome["status"] == "unverified" and "a bug in the read-back" in outcome["error"]
    assert (await client.get_route(route.route_id)).revision == 2  # it had been applied
