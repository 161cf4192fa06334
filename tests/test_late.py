"""The late policy: days late, grace, rounding of partial days, cap, basis, parsing."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.classroom.late import (LatePolicy, PolicyError, apply_penalty, assess, days_late,
                         parse_time, penalty_percent, policy_from_mapping)

DEADLINE = parse_time("2026-03-01T23:59:00+00:00")


def at(**delta: float) -> dt.datetime:
    return DEADLINE + dt.timedelta(**delta)


@pytest.mark.parametrize(("submitted", "expected"), [
    (at(hours=-5), 0.0),          # early
    (at(seconds=0), 0.0),         # on the dot
    (at(minutes=1), 10.0),        # one minute late: a day started
    (at(hours=24), 10.0),         # exactly one day
    (at(hours=24, minutes=1), 20.0),
    (at(days=30), 100.0),         # capped
])
def test_ceil_policy_counts_every_day_started(submitted: dt.datetime, expected: float) -> None:
    policy = LatePolicy(per_day=10)
    assert penalty_percent(days_late(submitted, DEADLINE, policy), policy) == expected


def test_grace_forgives_small_lateness_but_is_not_an_extension() -> None:
    policy = LatePolicy(per_day=10, grace_minutes=15)
    assert days_late(at(minutes=14), DEADLINE, policy) == 0.0
    # Beyond the grace period lateness counts from the deadline, not from the end of the grace.
    assert days_late(at(minutes=30), DEADLINE, policy) == pytest.approx(30 / 1440)
    assert penalty_percent(days_late(at(hours=25), DEADLINE, policy), policy) == 20.0


def test_exact_policy_is_pro_rata_and_capped() -> None:
    policy = LatePolicy(per_day=20, cap=50, partial_days="exact")
    assert penalty_percent(0.5, policy) == pytest.approx(10.0)
    assert penalty_percent(2.0, policy) == pytest.approx(40.0)
    assert penalty_percent(3.0, policy) == 50.0


def test_basis_score_scales_the_students_score() -> None:
    policy = LatePolicy(basis="score")
    assert apply_penalty(80.0, 100.0, 25.0, policy) == pytest.approx(60.0)


def test_basis_max_takes_points_off_and_stops_at_zero() -> None:
    policy = LatePolicy(basis="max")
    assert apply_penalty(80.0, 100.0, 25.0, policy) == pytest.approx(55.0)
    assert apply_penalty(10.0, 100.0, 25.0, policy) == 0.0


def test_assess_without_time_or_deadline_is_no_penalty() -> None:
    policy = LatePolicy(per_day=50)
    assert assess(40.0, 50.0, None, DEADLINE, policy).final == 40.0
    assert assess(40.0, 50.0, at(days=3), None, policy).penalty == 0.0
    late = assess(40.0, 50.0, at(days=1, hours=2), DEADLINE, policy)
    assert (late.penalty, late.final) == (100.0, 0.0)
    assert late.days == pytest.approx(26 / 24)


def test_naive_times_are_local_and_z_is_utc() -> None:
    assert parse_time("2026-03-01T23:59:00Z") == DEADLINE
    naive = parse_time("2026-03-01T12:00")
    assert naive.tzinfo is not None
    assert naive == dt.datetime(2026, 3, 1, 12, 0).astimezone()


def test_bad_times_and_settings_say_what_is_wrong() -> None:
    with pytest.raises(PolicyError, match="not an ISO 8601"):
        parse_time("next tuesday", what="deadline")
    with pytest.raises(PolicyError, match="cap"):
        LatePolicy(cap=150)
    with pytest.raises(PolicyError, match="partial_days"):
        policy_from_mapping({"partial_days": "round"})
    with pytest.raises(PolicyError, match="unknown late-policy setting 'per_week'"):
        policy_from_mapping({"per_week": 3})
    with pytest.raises(PolicyError, match="per_day must be a number"):
        policy_from_mapping({"per_day": "ten"})


def test_policy_from_mapping_reads_a_config_table() -> None:
    policy = policy_from_mapping({"deadline": "2026-03-01T23:59", "per_day": 5, "cap": 30,
                                  "grace_minutes": 10, "basis": "max"})
    assert policy == LatePolicy(per_day=5, cap=30, grace_minutes=10, basis="max")
    assert policy.describe() == "5 % of the maximum per day started, at most 30 %, 10 min grace"


# Pure arithmetic, but a loaded CI machine can stall one example past the 200 ms default.
@settings(deadline=None)
@given(days=st.floats(0, 60), more=st.floats(0, 60), per_day=st.floats(0, 100),
       cap=st.floats(0, 100), exact=st.booleans())
def test_penalty_grows_with_lateness_and_respects_the_cap(days: float, more: float,
                                                          per_day: float, cap: float,
                                                          exact: bool) -> None:
    policy = LatePolicy(per_day=per_day, cap=cap, partial_days="exact" if exact else "ceil")
    p, q = penalty_percent(days, policy), penalty_percent(days + more, policy)
    assert 0.0 <= p <= q <= cap


@settings(deadline=None)
@given(score=st.floats(0, 100), penalty=st.floats(0, 100), by_max=st.booleans())
def test_final_score_is_between_zero_and_the_raw_score(score: float, penalty: float,
                                                       by_max: bool) -> None:
    policy = LatePolicy(basis="max" if by_max else "score")
    final = apply_penalty(score, 100.0, penalty, policy)
    assert 0.0 <= final <= score + 1e-12
