"""A trap camera's sensor for the virtual farm: the esp32-camera binding (as hil/hardware.py's
CanopyCamera) photographing a trap card (hil/farm/trap_card.py) instead of a canopy.

Each capture renders the card as it is at that moment, at the frame's width over the card's width,
and keeps the number of the lure's target insects on it in `truths`, so the cloud's count can be held
against it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .farm.trap_card import Look, TrapCard, render_card
from .hardware import CanopyCamera


class TrapCamera(CanopyCamera):
    """The camera binding over a trap card: `card()` is the card in the trap now."""

    def __init__(self, card: Callable[[], TrapCard], seed: int = 0, look: Look | None = None) -> None:
        super().__init__(lambda: 0.0, seed)
        self.card = card
        self.look = look or Look()

    def capture(self) -> bytes:
        self._check()
        card = self.card()
        width, _height = self.size
        self.truths.append(sum(1 for i in card.insects if i.target))
        return render_card(card, width / card.width_mm, self.look, random.Random(self.seed + len(self.truths)))
