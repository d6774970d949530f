"""A trap camera's sensor for the virtual farm: the esp32-camera binding (as hil/hardware.py's
CanopyCamera) photographing a trap card (hil/farm/trap_card.py) instead of a canopy.

Each capture renders the card as it is at that moment, at the frame's width over the card's width,
and keeps the number of the lure's target insects on it in `truths`, so the cloud's count can be held
against it.

`PheromoneTrap` is a lured trap standing in the farm (the demo's, hil/demo_farm.py): the moths its
lure draws and some bycatch stick to its white liner as the farm's pest population flies, and a
technician puts in a fresh liner every `liner_days` photos, after the photo.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .farm.pests import poisson
from .farm.trap_card import CardKind, Look, TrapCard, bycatch, moth, render_card
from .hardware import CanopyCamera

MOTH_SIZES_MM: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    # the species table's card sizes (cloud/agronomy/species.py, with their sources): (folded, spread)
    "helicoverpa-armigera": ((15.0, 20.0), (30.0, 40.0)),  # wingspan 30-40 mm, folded half of it
    "ostrinia-nubilalis": ((13.0, 17.0), (20.0, 32.0)),  # forewing 13-17 mm, wingspan 20-32 mm
}
"""(forewing or folded length, wingspan) of the moths a lure draws, as the species table's card sizes
give them (the table states the sources; a folded moth's length taken as half its wingspan where the
source gives no forewing)."""


class TrapCamera(CanopyCamera):
    """The camera binding over a trap card: `card()` is the card in the trap now; `after()`, when
    given, runs after each photo (a technician's liner change)."""

    def __init__(self, card: Callable[[], TrapCard], seed: int = 0, look: Look | None = None,
                 after: Callable[[], None] | None = None) -> None:
        super().__init__(lambda: 0.0, seed)
        self.card = card
        self.look = look or Look()
        self.after = after

    def capture(self) -> bytes:
        self._check()
        card = self.card()
        width, _height = self.size
        self.truths.append(sum(1 for i in card.insects if i.target))
        photo = render_card(card, width / card.width_mm, self.look, random.Random(self.seed + len(self.truths)))
        if self.after is not None:
            self.after()
        return photo


@dataclass
class PheromoneTrap:
    """A pheromone trap lured for `lure` (a key of MOTH_SIZES_MM): `catch` sticks the moths the
    population sent it, and bycatch, on its white liner; `photographed` counts the camera's photos and
    puts in a fresh liner every `liner_days`."""

    lure: str
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    bycatch_per_day: float = 0.5
    liner_days: int = 7
    card: TrapCard = field(default_factory=lambda: TrapCard(CardKind.WHITE_PHEROMONE))
    photos: int = 0

    def __post_init__(self) -> None:
        if self.lure not in MOTH_SIZES_MM:
            raise ValueError(f"lure must be one of {', '.join(MOTH_SIZES_MM)}, not {self.lure!r}")
        if self.liner_days < 1:
            raise ValueError(f"liner_days must be at least 1, not {self.liner_days!r}")

    def catch(self, moths: int, hours: float) -> None:
        """`moths` of the lure's species in the last `hours`, and the bycatch of those hours."""
        forewing, wingspan = MOTH_SIZES_MM[self.lure]
        for _ in range(moths):
            m = moth(self.rng, 0, 0, forewing, wingspan)
            x, y = self.card.place(self.rng, m.length_mm)
            self.card.insects.append(replace(m, x_mm=x, y_mm=y))
        for _ in range(poisson(self.rng, self.bycatch_per_day * hours / 24)):
            self.card.insects.append(bycatch(self.rng, *self.card.place(self.rng, 3.0)))

    def photographed(self) -> None:
        self.photos += 1
        if self.photos % self.liner_days == 0:
            self.card.replace()
