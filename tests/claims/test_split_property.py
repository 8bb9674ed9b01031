"""Property: the shares of a split always add up exactly to the whole, each within one fen of its exact value."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseflow_claims.domain.liability import station_parts
from caseflow_claims.domain.money import FULL, allocate, split
from caseflow_claims.domain.records import LiableShare, PayoutRecord

amounts = st.integers(0, 10**12) | st.integers(0, 1000)
weights = st.lists(st.integers(0, 10**6) | st.integers(0, 3), min_size=1, max_size=12).filter(lambda w: sum(w) > 0)


@settings(max_examples=1000)
@given(whole=amounts, weights=weights)
def test_parts_add_up_to_the_whole_each_within_one_unit(whole: int, weights: list[int]) -> None:
    parts = allocate(whole, weights)
    assert sum(parts) == whole
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - Fraction(whole * weight, total)) < 1
        if weight == 0:
            assert part == 0
    assert allocate(whole, weights) == parts


@st.composite
def liabilities(draw: st.DrawFn) -> list[LiableShare]:
    stations = draw(st.lists(st.sampled_from(["SH-001", "HZ-002", "BJ-003", "GZ-004", "CD-005"]), unique=True))
    shares: list[LiableShare] = []
    left = FULL
    for station in stations:
        bp = draw(st.integers(0, left) | st.sampled_from([s for s in (0, 3333, 5000) if s <= left]))
        shares.append(LiableShare(station=station, share_bp=bp))
        left -= bp
    return shares


@settings(max_examples=1000)
@given(amount=amounts, liable=liabilities(), data=st.data())
def test_stations_never_pay_back_more_than_the_payout(
    amount: int, liable: list[LiableShare], data: st.DataObject
) -> None:
    payout = PayoutRecord(payout_id="P1", seq=1, decision_no=1, amount_minor=amount, issued_at="x")
    parts = station_parts(payout, liable)
    absorbed = amount - sum(parts.values())
    assert 0 <= absorbed <= amount
    for share in liable:
        assert abs(parts[share.station] - Fraction(amount * share.share_bp, FULL)) < 1
    unassigned = FULL - sum(s.share_bp for s in liable)
    assert abs(absorbed - Fraction(amount * unassigned, FULL)) < 1
    shuffled = data.draw(st.permutations(liable))
    assert station_parts(payout, list(shuffled)) == parts


@pytest.mark.parametrize(("whole", "weights"), [(-1, [1]), (5, [0, 0]), (5, [2, -1])])
def test_an_allocation_refuses_what_has_no_meaning(whole: int, weights: list[int]) -> None:
    with pytest.raises(ValueError, match="allocate needs"):
        allocate(whole, weights)


def test_a_split_refuses_shares_over_the_whole() -> None:
    with pytest.raises(ValueError, match="more than the whole"):
        split(100, [6000, 5000])


def test_on_a_tie_the_network_absorbs_rather_than_a_station_pays() -> None:
    assert split(1, [5000]) == [0]  # half a fen each: the network keeps it
    assert split(7, [2500, 2500, 2500]) == [2, 2, 1]  # 1.75 fen each of four: the network and the first two
