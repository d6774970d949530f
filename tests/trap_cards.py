"""The generated test set of trap cards: seeded, with the truth of every card (hil/farm/trap_card.py draws).

`card_set(seed)` gives cards of both kinds with 0 to 150 insects each, of every size the counter
must tell apart, touching and overlapping, on cards with glare, dust, grid lines, blur and JPEG
compression. Pheromone liners carry the lure's moths (corn earworm: forewing 16-20 mm, wingspan
32-45 mm, from the species table) and some bycatch; yellow cards carry a mix with no target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from furrow.cloud.agronomy.species import shipped
from furrow.hil.farm.trap_card import CardKind, Look, TrapCard, bycatch, moth, render_card

PX_PER_MM = 5.0
CEW = shipped("helicoverpa-zea")
FOREWING_MM = (16.0, 20.0)
WINGSPAN_MM = (32.0, 45.0)
COUNTS = (0, 5, 12, 25, 40, 60, 80, 100, 125, 150)


@dataclass(frozen=True)
class GeneratedCard:
    kind: CardKind
    jpeg: bytes
    total: int
    target: int
    look: Look


def make_card(rng: random.Random, kind: CardKind, n: int, look: Look, touching: float = 0.15) -> GeneratedCard:
    """A card with `n` insects: on a pheromone liner up to 40 moths of the lure and bycatch for the rest
    (a liner holds only so many 40 mm moths), on a yellow card moths and bycatch mixed; each insect lands
    against one already there with probability `touching` (TrapCard.place), else anywhere."""
    card = TrapCard(kind, width_mm=200, height_mm=150)
    moths = min(n, 40) if kind is CardKind.WHITE_PHEROMONE else n // 10
    for k in range(n):
        insect = (moth(rng, 0, 0, FOREWING_MM, WINGSPAN_MM, target=kind is CardKind.WHITE_PHEROMONE) if k < moths
                  else bycatch(rng, 0, 0))
        x, y = card.place(rng, insect.length_mm, touching)
        card.insects.append(replace(insect, x_mm=x, y_mm=y))
    jpeg = render_card(card, PX_PER_MM, look, rng)
    return GeneratedCard(kind, jpeg, n, sum(1 for i in card.insects if i.target), look)


def random_look(rng: random.Random, kind: CardKind) -> Look:
    return Look(glare=rng.randint(0, 3), dust=rng.randint(0, 60), blur_px=rng.uniform(0.0, 1.2),
                jpeg_quality=rng.randint(60, 92), light_gradient=rng.uniform(0.0, 0.25),
                grid_mm=25.0 if kind is CardKind.YELLOW_STICKY else None)


def card_set(seed: int, counts: tuple[int, ...] = COUNTS, per_count: int = 2) -> list[GeneratedCard]:
    rng = random.Random(seed)
    out = []
    for kind in CardKind:
        for n in counts:
            for _ in range(per_count):
                out.append(make_card(rng, kind, n, random_look(rng, kind)))
    return out


CONDITIONS = ("plain", "touching", "glare", "dust", "mixed")
"""The conditions the counter's error is reported under (bench/trap_counter.py --accuracy): `plain` (blur,
JPEG, uneven light, the grid; no glare, no dust, insects landing anywhere), `touching` (twice the test
set's share of insects landing against another: 30%), `glare` (3 glare patches), `dust` (60 specks),
`mixed` (the test set's own draw: 15% touching, 0-3 glare patches, 0-60 specks)."""


def condition_card(rng: random.Random, kind: CardKind, n: int, condition: str) -> GeneratedCard:
    """A card of `n` insects under one of CONDITIONS."""
    if condition == "mixed":
        return make_card(rng, kind, n, random_look(rng, kind))
    if condition not in CONDITIONS:
        raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, not {condition!r}")
    look = Look(glare=3 if condition == "glare" else 0, dust=60 if condition == "dust" else 0,
                blur_px=rng.uniform(0.0, 1.2), jpeg_quality=rng.randint(60, 92), light_gradient=rng.uniform(0.0, 0.25),
                grid_mm=25.0 if kind is CardKind.YELLOW_STICKY else None)
    return make_card(rng, kind, n, look, touching=0.3 if condition == "touching" else 0.0)
