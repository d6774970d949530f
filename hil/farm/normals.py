"""The virtual farm's true climate normals, as an agronomist imports a station's (docs/pests.md).

A real farm imports a weather service's daily normals; the virtual farm's climate is the weather
generator's (weather.py), so its normals are that generator's statistics: `years` simulated years of
the same `Climate` (seeds `seed` on, none of them a scenario's own season), each calendar day's Tmax and
Tmin mean and standard deviation over its ±7-day window, by the cloud's own rule
(agronomy/normals.py `normals_from_history`). The demo and the pest scenario import them through the
same API a farm uses (`PestService.put_normals`).
"""

from __future__ import annotations

from datetime import date

from furrow.cloud.agronomy.normals import normals_from_history

from .weather import Climate, generate

YEARS = 30
"""The WMO's climatological standard normal is a 30-year average."""
SEED = 1000
"""Far from the scenarios' seeds (0 to a few dozen): the normals' years are not the season simulated."""


def true_normals(climate: Climate, label: str, years: int = YEARS, seed: int = SEED) -> tuple[bytes, str]:
    """The CSV body (doy, tmax_c, tmin_c, tmax_sd_c, tmin_sd_c; 365 rows) and its source text."""
    history = []
    for k in range(years):
        first = date(1991 + k, 1, 1)
        days = (date(1992 + k, 1, 1) - first).days
        history += [(d.weather.day, d.weather.tmin_c, d.weather.tmax_c)
                    for d in generate(first, days, seed + k, climate)]
    normals, _ = normals_from_history(history, "virtual farm")
    assert normals is not None  # `years` of every day: the ten-year minimum is met by construction
    rows = ["doy,tmax_c,tmin_c,tmax_sd_c,tmin_sd_c"] + [
        f"{i},{n.tmax_c},{n.tmin_c},{n.tmax_sd_c},{n.tmin_sd_c}" for i, n in enumerate(normals.days, start=1)]
    source = (f"the virtual farm's climate ({label}): {years} simulated years of hil/farm/weather.py's generator "
              f"(seeds {seed}-{seed + years - 1}), each calendar day ±7 days")
    return ("\n".join(rows) + "\n").encode(), source
