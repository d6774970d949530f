"""A two-band canopy reflectance sensor pair (red ~650 nm, NIR ~810 nm): one head looks up at the
sky (irradiance), one looks down at the canopy (radiance), each band a photodiode amplified onto a
16-bit ADC channel. Reflectance = k x down / up per band, k the pair's calibration factor from its
certificate (it folds in pi and the heads' relative responsivity); NDVI = (nir - red) / (nir + red)
(Rouse et al. 1974).

``read()`` -> (red_refl, nir_refl, ndvi), each a number or a fault code, never a made-up value:

* an up-looking channel under `min_up_counts` (dusk, night, a dark storm): too little light for a
  ratio to mean anything: "not_ready" for all three;
* any channel pinned at a rail: "out_of_range" (an amplifier saturated by the sun's glint) or
  "disconnected" (a down channel at 0 while its up channel sees light: the head's cable);
* a reflectance above 1.5: "out_of_range" (a specular glint or a wrong k).
"""

from furrow.firmware.drivers.analog import ADC_FULL, RAIL

MAX_REFLECTANCE = 1.5


class ReflectancePair:
    """`adcs` = (red up, nir up, red down, nir down) ADC channels; `k_red`, `k_nir` the calibration."""

    def __init__(self, adcs, k_red, k_nir, min_up_counts=2000):
        if len(adcs) != 4:
            raise ValueError("adcs must be the four channels: red up, nir up, red down, nir down")
        self.adcs, self.k = adcs, (k_red, k_nir)
        self.min_up_counts = min_up_counts

    def read(self):
        red_up, nir_up, red_down, nir_down = [adc.read_u16() for adc in self.adcs]
        if max(red_up, nir_up, red_down, nir_down) >= ADC_FULL - RAIL:
            return ("out_of_range",) * 3
        if min(red_up, nir_up) < self.min_up_counts:
            return ("not_ready",) * 3
        if min(red_down, nir_down) <= RAIL:
            return ("disconnected",) * 3
        red = self.k[0] * red_down / red_up
        nir = self.k[1] * nir_down / nir_up
        if red > MAX_REFLECTANCE or nir > MAX_REFLECTANCE:
            return ("out_of_range",) * 3
        return red, nir, (nir - red) / (nir + red)
