"""Weights arithmetic: every result is integers in 0..100 summing to exactly 100."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftops_tui.domain.models import Rule
from ftops_tui.domain.weights import (
    WeightError,
    normalise,
    set_weight,
    shift,
    shift_counterpart,
    validate,
    without_version,
)

tags = st.lists(
    st.from_regex(r"[a-z]{1,6}-v[0-9]", fullmatch=True), min_size=1, max_size=6, unique=True
)


@st.composite
def valid_rules(draw: st.DrawFn) -> tuple[Rule, ...]:
    names = draw(tags)
    raw = draw(st.lists(st.floats(0, 1000), min_size=len(names), max_size=len(names)))
    if sum(raw) == 0:
        raw[0] = 1.0
    weights = normalise(dict(zip(names, raw, strict=True)))
    return tuple(Rule(t, w) for t, w in weights.items())


@given(
    tags.flatmap(
        lambda ts: st.lists(st.floats(0, 1e6), min_size=len(ts), max_size=len(ts)).map(
            lambda ws: dict(zip(ts, ws, strict=True))
        )
    )
)
def test_normalise_sums_to_100_and_stays_within_one_of_exact(weights: dict[str, float]) -> None:
    if sum(weights.values()) == 0:
        with pytest.raises(WeightError):
            normalise(weights)
        return
    result = normalise(weights)
    assert sum(result.values()) == 100
    mass = sum(weights.values())
    for tag, w in weights.items():
        assert abs(result[tag] - w * 100 / mass) < 1


def test_normalise_thirds_is_34_33_33() -> None:
    assert normalise({"a": 1, "b": 1, "c": 1}) == {"a": 34, "b": 33, "c": 33}


def test_normalise_refuses_negative_and_empty() -> None:
    with pytest.raises(WeightError):
        normalise({"a": -1, "b": 2})
    with pytest.raises(WeightError):
        normalise({})


@given(valid_rules(), st.data())
def test_set_weight_gives_exact_weight_and_keeps_sum(
    rules: tuple[Rule, ...], data: st.DataObject
) -> None:
    tag = data.draw(st.sampled_from([r.version_tag for r in rules]))
    weight = 100 if len(rules) == 1 else data.draw(st.integers(0, 100))
    result = set_weight(rules, tag, weight)
    assert validate(result) == []
    assert dict((r.version_tag, r.weight) for r in result)[tag] == weight
    assert [r.version_tag for r in result] == [r.version_tag for r in rules]


def test_set_weight_keeps_the_others_ratio() -> None:
    rules = (Rule("a", 60), Rule("b", 30), Rule("c", 10))
    assert set_weight(rules, "c", 40) == (Rule("a", 40), Rule("b", 20), Rule("c", 40))


def test_set_weight_gives_the_rest_to_the_preferred_version_when_others_hold_nothing() -> None:
    rules = (Rule("a", 0), Rule("b", 0), Rule("c", 100))
    assert set_weight(rules, "c", 75, prefer="b") == (Rule("a", 0), Rule("b", 25), Rule("c", 75))


@given(valid_rules(), st.data())
def test_shift_moves_weight_between_two_versions_only(
    rules: tuple[Rule, ...], data: st.DataObject
) -> None:
    if len(rules) < 2:
        return
    tag, other = data.draw(st.permutations([r.version_tag for r in rules]))[:2]
    delta = data.draw(st.integers(-100, 100))
    result = shift(rules, tag, delta, other)
    assert validate(result) == []
    before, after = (
        {r.version_tag: r.weight for r in rules},
        {r.version_tag: r.weight for r in result},
    )
    for t in before:
        if t not in (tag, other):
            assert after[t] == before[t]
    assert after[tag] - before[tag] == before[other] - after[other]


def test_shift_is_clamped_to_what_the_giver_holds() -> None:
    rules = (Rule("stable", 97), Rule("canary", 3))
    assert shift(rules, "canary", -5, "stable") == (Rule("stable", 100), Rule("canary", 0))
    assert shift(rules, "canary", 5, "stable") == (Rule("stable", 92), Rule("canary", 8))


def test_shift_counterpart_is_stable_for_a_canary_and_heaviest_other_for_stable() -> None:
    rules = (Rule("s", 70), Rule("a", 20), Rule("b", 10))
    assert shift_counterpart(rules, "b", "s") == "s"
    assert shift_counterpart(rules, "s", "s") == "a"
    assert shift_counterpart(rules, "b", None) == "s"
    assert shift_counterpart((Rule("only", 100),), "only", None) is None


def test_without_version_sends_its_weight_to_the_others() -> None:
    rules = (Rule("s", 95), Rule("c", 5))
    assert without_version(rules, "c") == (Rule("s", 100), Rule("c", 0))


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ((Rule("a", 50), Rule("b", 40)), "sum to 100"),
        ((Rule("a", 150), Rule("b", -50)), "0..100"),
        ((Rule("a", 50), Rule("a", 50)), "more than once"),
        ((), "at least one"),
        ((Rule("a", 100),), None),
    ],
)
def test_validate_names_each_problem(rules: tuple[Rule, ...], problem: str | None) -> None:
    problems = validate(rules)
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems)


def test_validate_refuses_unknown_versions_and_non_integers() -> None:
    assert any("unknown version x" in p for p in validate((Rule("x", 100),), known_tags=["a"]))
    assert any("integer" in p for p in validate((Rule("a", 99.5),)))  # type: ignore[arg-type]
