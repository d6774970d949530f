"""Small-group suppression of a regional table (issue 21): no cell shows fewer than `k` farms, even by
subtracting one published cell from another.

Primary suppression is the threshold rule: a cell built from fewer than `k` contributors is withheld
("Some agencies require at least five respondents in a cell, others require three": OECD Glossary of
Statistical Terms, "threshold rule", from the Glossary of Statistical Disclosure Control, UNECE/Eurostat
work session, 2005). Secondary (complementary) suppression then protects those cells from differencing,
as in Hundepool et al., *Handbook on Statistical Disclosure Control*, ch. 4 (magnitude tables): for each
published total and its parts, what a reader can compute as total minus the published parts (the
suppressed parts, and the farms of the total that are in no part) must again come from no farm or from at
least `k` farms; otherwise the smallest published part is withheld too, until it does.

The pattern is computed once over the whole table (every region at every level, every crop, and their
totals), so every query reads the same pattern: two queries cannot be subtracted to undo it.
"""

from collections.abc import Hashable, Iterable, Mapping
from enum import StrEnum


class Withheld(StrEnum):
    SMALL = "small_group"  # fewer than k farms in the cell (primary)
    COMPLEMENT = "complementary"  # withheld so that a small cell cannot be recovered by subtraction


def suppress(contributors: Mapping[Hashable, frozenset[str]], groups: Iterable[tuple[Hashable, list]],
             k: int, withheld: Mapping[Hashable, Withheld] | None = None) -> dict[Hashable, Withheld]:
    """The withheld cells and why. `contributors` gives each cell's farms; `groups` each total with its
    parts (a region's cell with its sub-regions' cells, a region's all-crops cell with its crops' cells).
    Deterministic: the same table gives the same pattern.

    `withheld`, when given, is a pattern to start from (the one a dataset is about to publish): the answer
    then holds it and every cell that must be withheld besides, so a cell in the answer and not in it is
    one the pattern publishes and must not (the open-data check, opendata.py)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    withheld = dict(withheld or {})
    for cell, farms in contributors.items():
        if 0 < len(farms) < k:
            withheld.setdefault(cell, Withheld.SMALL)
    groups = [(total, sorted(parts, key=repr)) for total, parts in groups]
    changed = True
    while changed:
        changed = False
        for total, parts in groups:
            if total in withheld or not contributors.get(total):
                continue
            shown = [p for p in parts if p not in withheld and contributors.get(p)]
            in_parts = frozenset().union(*(contributors.get(p, frozenset()) for p in parts))
            hidden = frozenset().union(*(contributors[p] for p in parts if p in withheld))
            hidden |= contributors[total] - in_parts  # farms counted in the total and in no part
            if 0 < len(hidden) < k and shown:
                smallest = min(shown, key=lambda p: (len(contributors[p]), repr(p)))
                withheld[smallest] = Withheld.COMPLEMENT
                changed = True
    return withheld
