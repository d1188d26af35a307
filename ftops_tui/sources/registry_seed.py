"""Seeds the demo registry: model `support-bot`, versions 1 (`champion`) and 2 (candidate).

Used by the demo and the tests. Idempotent: a version whose relay version tag already exists
is left as it is, and `champion` is only set when the model has no such alias yet, so seeding
again never undoes a rollout.

Model versions need a `source`. We log a real run (experiment `ftops-tui-demo`) holding a
small placeholder artifact under `model/`, and register `runs:/<run_id>/model` with that
`run_id`: the form MLflow documents, accepted by the SQLite store and by `mlflow server`,
whose `_validate_source_run` rejects local paths outside the run's artifact directory and
`runs:/` URIs without the matching run_id.

mlflow is imported inside the function, never at module import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEMO_MODEL = "support-bot"
DEMO_EXPERIMENT = "ftops-tui-demo"
STABLE_ALIAS = "champion"
_SEED_RUN_TAG = "ftops.seed"


@dataclass(frozen=True)
class _SeedVersion:
    version_tag: str
    tags: dict[str, str]
    description: str = ""


_VERSIONS = (
    _SeedVersion("support-bot-v1", {"eval.accuracy": "0.91", "eval.toxicity": "0.02"}),
    _SeedVersion(
        "support-bot-v2",
        {"eval.accuracy": "0.93", "eval.toxicity": "0.03"},
        description="candidate",
    ),
    # Not on the relay yet: `d` (or `ftops-tui deploy`) registers it from these tags and
    # routes it (console.md v1.1).
    _SeedVersion(
        "support-bot-v3",
        {
            "eval.accuracy": "0.95",
            "eval.toxicity": "0.015",
            "relay.upstream_endpoint": "sim://support-bot-v3",
            "relay.model": "acme/support-bot-ft",
            "relay.parameters": '{"temperature": 0.4, "max_tokens": 4096}',
            "relay.system_prompt": "You are the Acme support assistant.",
        },
        description="next candidate, ready to deploy",
    ),
)


def _sqlite_artifact_location(tracking_uri: str) -> str | None:
    """`<db dir>/artifacts` for a SQLite store, so nothing lands in the working directory.

    Other stores (an `mlflow server`, a database server) pick their own artifact root.
    """
    if not tracking_uri.startswith("sqlite:"):
        return None
    path = unquote(urlsplit(tracking_uri).path)
    if not path or path == "/:memory:":
        return None
    # sqlite:///rel.db -> path "/rel.db" (relative); sqlite:////abs.db -> "//abs.db".
    db_path = Path(path[1:])
    return (db_path.resolve().parent / "artifacts").as_uri()


def _is_not_found(exc: Exception) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def _seed_run_id(client: MlflowClient, tracking_uri: str) -> str:
    experiment = client.get_experiment_by_name(DEMO_EXPERIMENT)
    if experiment is None:
        experiment_id = client.create_experiment(
            DEMO_EXPERIMENT, artifact_location=_sqlite_artifact_location(tracking_uri)
        )
    else:
        experiment_id = experiment.experiment_id
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{_SEED_RUN_TAG}` = '{DEMO_MODEL}'", max_results=1
    )
    if runs:
        return str(runs[0].info.run_id)
    run = client.create_run(experiment_id, tags={_SEED_RUN_TAG: DEMO_MODEL}, run_name=DEMO_MODEL)
    run_id = str(run.info.run_id)
    client.log_text(
        run_id,
        "Placeholder for the ftops-tui demo: the weights are served by the relay's upstreams.\n",
        "model/README.txt",
    )
    client.set_terminated(run_id)
    return run_id


def seed_demo_registry(tracking_uri: str, *, version_tag_key: str = "relay.version_tag") -> None:
    """Create the demo model and versions in the registry at `tracking_uri` if missing."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        client.get_registered_model(DEMO_MODEL)
    except MlflowException as exc:
        if not _is_not_found(exc):
            raise
        client.create_registered_model(
            DEMO_MODEL, description="Demo support assistant for ftops-tui."
        )

    existing: dict[str, Any] = {}
    for found in client.search_model_versions(f"name = '{DEMO_MODEL}'"):
        tag = (found.tags or {}).get(version_tag_key)
        if tag is not None:
            existing.setdefault(tag, found)

    run_id: str | None = None
    by_tag: dict[str, str] = {}
    for spec in _VERSIONS:
        mv = existing.get(spec.version_tag)
        if mv is None:
            if run_id is None:
                run_id = _seed_run_id(client, tracking_uri)
            mv = client.create_model_version(
                DEMO_MODEL,
                source=f"runs:/{run_id}/model",
                run_id=run_id,
                tags={version_tag_key: spec.version_tag, **spec.tags},
                description=spec.description or None,
            )
        by_tag[spec.version_tag] = str(mv.version)

    aliases = client.get_registered_model(DEMO_MODEL).aliases or {}
    if STABLE_ALIAS not in aliases:
        client.set_registered_model_alias(DEMO_MODEL, STABLE_ALIAS, by_tag["support-bot-v1"])
