"""A zone's soil water in layers (documented in docs/hil.md).

Each layer holds volumetric water θ between the wilting point (the roots
cannot take more) and saturation. Water enters at the top (rain less runoff,
irrigation); a layer fills to saturation and passes the rest down; above
field capacity a layer drains a fixed share of its excess per hour to the one
below (the bottom one out of the profile: deep percolation). The crop takes
its evapotranspiration from the root-zone layers in proportion to their root
share; a layer at the wilting point gives nothing, and what it cannot give is
asked of the others, so θ never falls below the wilting point.

Depletion is FAO-56's Dr: the water below field capacity in the root zone,
0 at field capacity (never negative), TAW at the wilting point.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Layer:
    top_cm: float
    bottom_cm: float
    theta: float
    root_share: float = 0.0

    @property
    def thickness_mm(self) -> float:
        return (self.bottom_cm - self.top_cm) * 10.0


@dataclass
class SoilColumn:
    """Layers top first; θ values in m3/m3."""

    theta_fc: float
    theta_wp: float
    layers: list[Layer]
    theta_sat: float = 0.0
    drain_per_h: float = 0.4
    """Share of the water above field capacity a layer passes down per hour."""
    totals: dict[str, float] = field(default_factory=lambda: {"et": 0.0, "infiltrated": 0.0, "runoff": 0.0,
                                                              "drained": 0.0})

    def __post_init__(self) -> None:
        if self.theta_sat <= 0.0:
            self.theta_sat = self.theta_fc + 0.12
        self._roots = [layer for layer in self.layers if layer.root_share > 0.0]
        self._root_mm = sum(layer.thickness_mm for layer in self._roots)

    @classmethod
    def uniform(cls, theta_fc: float, theta_wp: float, root_depth_cm: float, start_fraction: float = 0.2,
                bounds_cm: tuple[float, ...] = (0, 20, 40, 60, 90)) -> SoilColumn:
        """Layers at `bounds_cm`; roots in the layers above `root_depth_cm`, denser near the top
        (the 40-30-20-10 rule over the root zone's quarters, by layer midpoint); water starts
        at `start_fraction` of TAW depleted."""
        theta0 = theta_fc - start_fraction * (theta_fc - theta_wp)
        layers = [Layer(a, b, theta0) for a, b in zip(bounds_cm, bounds_cm[1:], strict=False)]
        weights = []
        for layer in layers:
            mid = (layer.top_cm + layer.bottom_cm) / 2.0
            quarter = int(4 * mid / root_depth_cm) if mid < root_depth_cm else 4
            weights.append((0.4, 0.3, 0.2, 0.1, 0.0)[quarter] * layer.thickness_mm)
        total = sum(weights)
        for layer, w in zip(layers, weights, strict=True):
            layer.root_share = w / total
        return cls(theta_fc, theta_wp, layers)  # roots are set before the column sees its layers

    # -- state --------------------------------------------------------------

    def vwc_pct(self, depth_cm: float) -> float:
        """θ of the layer holding `depth_cm`, in % (what a probe there sees)."""
        for layer in self.layers:
            if layer.top_cm <= depth_cm < layer.bottom_cm:
                return layer.theta * 100.0
        raise KeyError(f"no soil layer holds depth {depth_cm} cm (profile ends at {self.layers[-1].bottom_cm} cm)")

    def root_layers(self) -> list[Layer]:
        return self._roots

    def root_depth_mm(self) -> float:
        return self._root_mm

    def taw_mm(self) -> float:
        """TAW = (θFC - θWP) Zr (FAO-56 eq. 82)."""
        return (self.theta_fc - self.theta_wp) * self.root_depth_mm()

    def depletion_mm(self) -> float:
        """Dr: water below field capacity in the root zone, 0..TAW."""
        dr = sum((self.theta_fc - layer.theta) * layer.thickness_mm for layer in self._roots)
        return min(self.taw_mm(), max(0.0, dr))

    # -- fluxes -------------------------------------------------------------

    def infiltrate(self, mm: float) -> float:
        """Water at the surface; returns the runoff (what the profile could not take)."""
        if mm <= 0.0:
            return 0.0
        self.totals["infiltrated"] += mm
        carry = mm
        for layer in self.layers:
            room = (self.theta_sat - layer.theta) * layer.thickness_mm
            take = min(carry, max(0.0, room))
            layer.theta += take / layer.thickness_mm
            carry -= take
            if carry <= 1e-12:
                return 0.0
        self.totals["runoff"] += carry
        self.totals["infiltrated"] -= carry
        return carry

    def drain(self, hours: float) -> float:
        """Gravity drainage above field capacity; returns the deep percolation."""
        share = 1.0 - (1.0 - self.drain_per_h) ** hours
        out = 0.0
        for i, layer in enumerate(self.layers):
            excess = (layer.theta - self.theta_fc) * layer.thickness_mm
            if excess <= 0.0:
                continue
            moved = excess * share
            layer.theta -= moved / layer.thickness_mm
            if i + 1 < len(self.layers):
                below = self.layers[i + 1]
                room = (self.theta_sat - below.theta) * below.thickness_mm
                passed = min(moved, max(0.0, room))
                below.theta += passed / below.thickness_mm
                layer.theta += (moved - passed) / layer.thickness_mm  # a full layer below holds it back
            else:
                out += moved
        self.totals["drained"] += out
        return out

    def transpire(self, mm: float) -> float:
        """Take `mm` of ET from the root zone by root share; returns what was taken."""
        want = mm
        taken = 0.0
        layers = self.root_layers()
        for _ in range(3):  # what a dry layer cannot give is asked of the others
            if want <= 1e-9:
                break
            shares = [(layer, layer.root_share) for layer in layers if layer.theta > self.theta_wp]
            total = sum(s for _, s in shares)
            if total <= 0.0:
                break
            asked = want
            for layer, s in shares:
                give = min(asked * s / total, (layer.theta - self.theta_wp) * layer.thickness_mm)
                layer.theta -= give / layer.thickness_mm
                taken += give
                want -= give
        self.totals["et"] += taken
        return taken
