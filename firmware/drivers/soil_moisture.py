"""Capacitive soil-moisture probe on an ADC input.

A capacitive probe outputs a voltage that falls as the soil gets wetter. Its
raw count is turned into volumetric water content with a two-point linear
calibration taken in the field's own soil: `dry_raw` read in oven-dry soil
(`vwc_dry_pct`, usually 0 %) and `wet_raw` in saturated soil (`vwc_wet_pct`;
45 % is typical of a loam, measure it for yours).
"""

# The ADC is 16-bit (machine.ADC.read_u16). A count this close to a rail means
# the probe is not driving the input: a broken wire lets the pull resistor
# pin it to 0, a lost ground pins it to full scale.
RAIL_MARGIN = 256
ADC_FULL = 65535


class CapacitiveMoisture:
    """Capacitive moisture probe: ``read()`` -> (vwc_pct or None, fault or None, raw).

    `adc` is anything with ``read_u16()`` (machine.ADC). `samples` reads are
    averaged per ``read()`` to smooth ADC noise. A reading further outside the
    calibrated span than `margin` (a fraction of the span) is reported as the
    fault "out_of_range" rather than as a number; within the margin it is
    clamped to the calibrated range (noise around the calibration points).
    """

    def __init__(self, adc, dry_raw, wet_raw, vwc_dry_pct=0.0, vwc_wet_pct=45.0, samples=8, margin=0.1):
        if samples < 1:
            raise ValueError("samples must be at least 1, not %r" % (samples,))
        self.adc = adc
        self.samples = samples
        self.margin = margin
        self.vwc_dry_pct = vwc_dry_pct
        self.vwc_wet_pct = vwc_wet_pct
        self.calibrate(dry_raw, wet_raw)

    def calibrate(self, dry_raw, wet_raw):
        """Set the two calibration points (raw counts in dry and wet soil)."""
        if dry_raw == wet_raw:
            raise ValueError("dry_raw and wet_raw must differ (both %r)" % (dry_raw,))
        for raw in (dry_raw, wet_raw):
            if not 0 <= raw <= ADC_FULL:
                raise ValueError("calibration count %r is outside 0..%d" % (raw, ADC_FULL))
        self.dry_raw = dry_raw
        self.wet_raw = wet_raw

    def read_raw(self):
        """Mean of `samples` ADC reads, as an integer count."""
        total = 0
        for _ in range(self.samples):
            total += self.adc.read_u16()
        return (total + self.samples // 2) // self.samples

    def read(self):
        """Return (vwc_pct, None, raw) or (None, fault, raw)."""
        raw = self.read_raw()
        if raw <= RAIL_MARGIN or raw >= ADC_FULL - RAIL_MARGIN:
            return None, "disconnected", raw
        # Position in the calibrated span: 0 at dry, 1 at wet, whichever way
        # the probe's count runs.
        t = (raw - self.dry_raw) / (self.wet_raw - self.dry_raw)
        if t < -self.margin or t > 1 + self.margin:
            return None, "out_of_range", raw
        t = min(1.0, max(0.0, t))
        vwc = self.vwc_dry_pct + t * (self.vwc_wet_pct - self.vwc_dry_pct)
        return vwc, None, raw


class PolyMoisture(CapacitiveMoisture):
    """A probe calibrated in its own soil with a polynomial:
    vwc_pct = c0 + c1 x + c2 x^2 + ... where x = raw / 65535 (the fraction
    of the ADC's full scale, i.e. volts / reference), `coeffs` = [c0, c1, ...]
    fitted to gravimetric samples. The result must fall in 0..100 %, else
    "out_of_range"."""

    def __init__(self, adc, coeffs, samples=8):
        if not 2 <= len(coeffs) <= 6:
            raise ValueError("a calibration polynomial has 2 to 6 coefficients, not %d" % len(coeffs))
        self.adc = adc
        self.samples = samples
        self.coeffs = list(coeffs)

    def read(self):
        raw = self.read_raw()
        if raw <= RAIL_MARGIN or raw >= ADC_FULL - RAIL_MARGIN:
            return None, "disconnected", raw
        x = raw / ADC_FULL
        vwc = 0.0
        for c in reversed(self.coeffs):  # Horner
            vwc = vwc * x + c
        if not 0.0 <= vwc <= 100.0:
            return None, "out_of_range", raw
        return vwc, None, raw
