"""Liability and chargebacks, inside the claim: the scan trail or HQ decides who pays back; the ledger balances.

Every chargeback has a deterministic id (its idempotency key) and is recorded in the claim with the
ledger entries it adds, so one commit holds both and nothing is charged twice. The claim calls these
(`Claim.declare`, `Claim.case_resolved`, `Claim.arbitrate`, and every approval); nothing else does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ..rules import CompensationRules
from .compensation import liable_by_custody
from .effects import Arbitrated, ChargebackAppealed, Charged, Effect, Reversed
from .money import FULL, split
from .records import (
    ChargebackRecord,
    ClaimRefused,
    LedgerEntry,
    LiabilityRecord,
    LiableShare,
    PayoutRecord,
    iso,
)

if TYPE_CHECKING:
    from .claim import Claim


def hq_decide(
    claim: Claim, liable: list[LiableShare], reason: str, rules: CompensationRules, now: datetime
) -> list[Effect]:
    """HQ arbitration decides liability (有责 / 无责) with a reason; it replaces any earlier decision."""
    if sum(x.share_bp for x in liable) > FULL:
        raise ClaimRefused("shares_exceed_whole", "liable shares add up to more than 100%")
    if len({x.station for x in liable}) != len(liable):
        raise ClaimRefused("duplicate_station", "a station appears twice")
    seq = (claim.liability.seq if claim.liability else 0) + 1
    claim.liability = LiabilityRecord(seq=seq, decided_by="hq", liable=liable, reason=reason, decided_at=iso(now))
    for d in claim.declarations:
        d.settled = True
    effects: list[Effect] = [Arbitrated(claim.liability)]
    for cb in claim.chargebacks:
        if cb.status == "appealed":
            cb.status = "upheld"  # re-judged: settle() reverses it unless HQ kept the same share
    return effects + settle(claim, rules, now)


def appeal_chargeback(
    claim: Claim, chargeback_id: str, station: str, reason: str, *, rules: CompensationRules, now: datetime
) -> list[Effect]:
    cb = next((c for c in claim.chargebacks if c.chargeback_id == chargeback_id), None)
    if cb is None or cb.station != station:
        raise ClaimRefused("not_found", f"no chargeback {chargeback_id} for station {station}")
    if cb.status == "appealed":
        return []  # already under appeal (a retry)
    if cb.status != "issued":
        raise ClaimRefused("not_appealable", f"chargeback is {cb.status}")
    if not reason.strip():
        raise ClaimRefused("reason_required", "an appeal needs a reason")
    if now > datetime.fromisoformat(cb.issued_at) + timedelta(days=rules.station_appeal_days):
        raise ClaimRefused("appeal_window_closed", f"appeals within {rules.station_appeal_days} days of the chargeback")
    cb.status, cb.appeal_reason, cb.appealed_at = "appealed", reason, iso(now)
    return [ChargebackAppealed(cb)]


def _custody_liability(claim: Claim, rules: CompensationRules, now: datetime) -> list[Effect]:
    """Liability from the scan trail once the claim is paid (or the case resolved, if the rules wait for it).

    A station's declaration that names the same station is confirmed by the trail; one that
    names another station is a dispute, and HQ decides. A declaration that comes after liability was
    settled (stations declare when they find out) is judged the same way: one naming a station already
    liable confirms it, one naming another stays open and puts the claim before HQ (`Claim.disputed`).
    """
    if claim.liability is not None:
        liable = {x.station for x in claim.liability.liable if x.share_bp}
        for d in claim.declarations:
            d.settled = d.settled or d.liable_station in liable
        return []
    if claim.paid_minor == 0:
        return []
    if rules.arbitrate_when == "case_resolved" and claim.case_resolved_at is None:
        return []
    found = liable_by_custody(claim.claim_kind, claim.facts, rules)
    if found.station is None:
        return []  # the trail names nobody: absorbed until HQ decides
    open_declarations = [d for d in claim.declarations if not d.settled]
    if any(d.liable_station != found.station for d in open_declarations):
        return []  # disputed: HQ decides
    reason = found.reason
    if open_declarations:
        names = ", ".join(sorted({d.station for d in open_declarations}))
        reason += f"; confirms the arbitration declaration of {names}"
        for d in open_declarations:
            d.settled = True
    claim.liability = LiabilityRecord(
        seq=1,
        decided_by="scan_trail",
        liable=[LiableShare(station=found.station, share_bp=FULL, reason=found.reason)],
        reason=reason,
        decided_at=iso(now),
    )
    return [Arbitrated(claim.liability)]


def station_parts(payout: PayoutRecord, liable: list[LiableShare]) -> dict[str, int]:
    """Each liable station's part of one payout, in fen.

    The network takes part in the split with the share no station is liable for (what it absorbs), so the
    stations' parts never add up to more than the payout; stations are taken in code order, so equal
    remainders always fall the same way whatever order HQ named them in.
    """
    stations = sorted(liable, key=lambda x: x.station)
    parts = split(payout.amount_minor, [x.share_bp for x in stations])
    return {x.station: part for x, part in zip(stations, parts, strict=True)}


def _wanted(claim: Claim) -> dict[tuple[str, str], tuple[int, int]]:
    """(payout, station) -> (share, part) the liability in force charges back."""
    if claim.liability is None:
        return {}
    shares = {x.station: x.share_bp for x in claim.liability.liable}
    return {
        (payout.payout_id, station): (shares[station], part)
        for payout in claim.payouts
        for station, part in station_parts(payout, claim.liability.liable).items()
        if shares[station]
    }


def _book(claim: Claim, cb: ChargebackRecord, sign: int, at: str) -> None:
    """Ledger entries of a chargeback (sign 1) or of its reversal (sign -1): its payout share and its penalty."""
    suffix = "" if sign > 0 else "-REV"
    parts: list[tuple[Literal["chargeback", "penalty"], str, int]] = [
        ("chargeback", "", cb.payout_share_minor),
        ("penalty", "-PEN", cb.penalty_minor),
    ]
    for kind, tag, amount in parts:
        if kind == "chargeback" or amount:
            claim.ledger.append(
                LedgerEntry(
                    entry_id=f"L-{cb.chargeback_id}{tag}{suffix}",
                    kind=kind,
                    amount_minor=sign * amount,
                    station=cb.station,
                    ref=cb.chargeback_id,
                    at=at,
                )
            )


def settle(claim: Claim, rules: CompensationRules, now: datetime) -> list[Effect]:
    """Bring chargebacks and absorption in line with the payouts and the liability in force."""
    effects = _custody_liability(claim, rules, now)
    at = iso(now)
    wanted = _wanted(claim)
    # Take back what the liability in force no longer supports.
    for cb in claim.chargebacks:
        if cb.status == "reversed" or wanted.get((cb.payout_id, cb.station)) == (cb.share_bp, cb.payout_share_minor):
            continue  # already taken back, or still supported (an upheld appeal stays upheld)
        cb.status, cb.reversed_at = "reversed", at
        _book(claim, cb, -1, at)
        effects.append(Reversed(cb, claim.liability.reason if claim.liability else "liability withdrawn"))
    # Charge what it supports and is not yet charged.
    if claim.liability is not None:
        active = [c for c in claim.chargebacks if c.status != "reversed"]
        for payout in claim.payouts:
            for share in claim.liability.liable:
                charge = wanted.get((payout.payout_id, share.station))
                if charge is None or any(
                    c.payout_id == payout.payout_id and c.station == share.station for c in active
                ):
                    continue
                has_penalty = any(c.station == share.station and c.penalty_minor for c in active)
                cb = ChargebackRecord(
                    chargeback_id=f"{claim.claim_id}-{share.station}-P{payout.seq}-L{claim.liability.seq}",
                    station=share.station,
                    payout_id=payout.payout_id,
                    liability_seq=claim.liability.seq,
                    share_bp=share.share_bp,
                    payout_share_minor=charge[1],
                    penalty_minor=0 if has_penalty else rules.penalty_minor(claim.claim_kind),
                    issued_at=at,
                )
                claim.chargebacks.append(cb)
                active.append(cb)
                _book(claim, cb, 1, at)
                effects.append(Charged(cb))
    # The network absorbs the rest: one adjusting entry whenever the split changes.
    gap = claim.ledger_total("payout") - claim.ledger_total("chargeback") - claim.ledger_total("absorption")
    if gap:
        n = sum(1 for e in claim.ledger if e.kind == "absorption") + 1
        claim.ledger.append(
            LedgerEntry(
                entry_id=f"L-{claim.claim_id}-AB{n}", kind="absorption", amount_minor=gap, ref=claim.claim_id, at=at
            )
        )
    return effects
