"""Money arithmetic: integer minor units (fen) and shares in basis points (1/10,000); never a float.

One amount's share rounds half up; a split of an amount among parties is allocated so that the parts
always add up to it.
"""

from __future__ import annotations

from collections.abc import Sequence

FULL = 10_000


def share_of(amount_minor: int, share_bp: int) -> int:
    """amount x share / 10,000, rounded half up, in integers."""
    return (amount_minor * share_bp + FULL // 2) // FULL


def allocate(whole: int, weights: Sequence[int]) -> list[int]:
    """`whole` in parts proportional to `weights` that add up to exactly `whole` (largest remainder).

    Each part starts at the floor of its exact value whole x weight / sum(weights); the units still
    missing go one each to the parts with the largest remainders, the earlier weight first among equal
    ones. So every part is within one unit of its exact value, a zero weight gets nothing, and the same
    input always splits the same way.
    """
    total = sum(weights)
    if whole < 0 or total <= 0 or min(weights) < 0:
        raise ValueError("allocate needs a non-negative whole and non-negative weights with a positive sum")
    parts = [whole * weight // total for weight in weights]
    missing = whole - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(whole * weights[i] % total), i))
    for i in by_remainder[:missing]:
        parts[i] += 1
    return parts


def split(amount_minor: int, shares_bp: Sequence[int]) -> list[int]:
    """Each share's part of an amount (shares in basis points, at most 100 % together): with the network's
    own part (the share nobody holds, which it absorbs) the parts add up to the amount exactly, each within
    one fen of its exact value. The network is first on a tie: in doubt a fen is absorbed, not charged.
    (Half up per share charged 51 + 51 for 101 fen split 50/50.)"""
    unassigned = FULL - sum(shares_bp)
    if unassigned < 0:
        raise ValueError("shares add up to more than the whole")
    return allocate(amount_minor, [unassigned, *shares_bp])[1:]


def fmt(amount_minor: int, currency: str) -> str:
    return f"{amount_minor // 100}.{amount_minor % 100:02d} {currency}"
