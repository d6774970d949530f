"""The virtual farm's vigour (hil/farm/): a canopy camera whose photos' cover is known, a thin stand whose water
use follows its cover (FAO-56 ch. 9), and a forecast of set skill the cloud reads through its file provider."""

import asyncio
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image

from furrow.cloud.agronomy import kc_single
from furrow.cloud.agronomy.canopy import canopy_cover
from furrow.cloud.planning.forecast import FileForecast, Where, rain_ahead
from furrow.hil.farm import MAIZE, Crop, ForecastOracle, canopy_photo, generate


def test_the_camera_photographs_the_crops_cover():
    """A mid-development maize canopy photographed by the virtual camera: Canopeo reads the crop's cover within
    2 points of the photo's truth, which is the crop's canopy fraction within 1 point."""
    crop = Crop(gdd_total=400)
    data, truth = canopy_photo(crop.canopy_fraction, seed=3)
    assert abs(truth - crop.canopy_fraction) < 0.01
    measured = canopy_cover(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    assert abs(measured - truth) <= 0.02


def test_a_thin_stand_covers_less_and_transpires_less():
    """Half a stand in mid-season: half the cover and a lower Kc by FAO-56 ch. 9; a full stand keeps its curve."""
    full, thin = Crop(gdd_total=800), Crop(gdd_total=800, stand=0.5)
    assert full.kc == kc_single(800, MAIZE) and thin.canopy_fraction == pytest.approx(full.canopy_fraction / 2)
    assert 0.5 * full.kc < thin.kc < full.kc


def test_the_forecast_oracle_skill_and_the_file_provider(tmp_path):
    """Skill 1 forecasts every day's rain as it falls; skill 0 misses rain and invents it on dry days. What the
    oracle writes is what the cloud's file provider reads, and the planner's rain is tomorrow's."""
    days = generate(date(2026, 6, 1), 30, seed=4)
    rainy = [d for d in days[:-3] if d.rain_mm > 0.5]
    dry = [d for d in days[:-3] if d.rain_mm == 0]
    assert rainy and dry
    sure, wrong = ForecastOracle(days, skill=1.0), ForecastOracle(days, skill=0.0)
    assert all(sure.said(d.day)["rain_mm"] == round(d.rain_mm, 1) for d in rainy)
    assert all(wrong.said(d.day)["rain_mm"] == 0.0 for d in rainy)
    assert all(wrong.said(d.day)["rain_mm"] == 15.0 for d in dry)
    day = rainy[0].day
    eve = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=2)  # 22:00 the day before
    path = tmp_path / "forecast.json"
    sure.write(path, "farm", eve)
    now_ms = int(eve.timestamp() * 1000)
    f = asyncio.run(FileForecast(path).forecast(Where("farm", None, None, None, ZoneInfo("UTC")), now_ms))
    rain = rain_ahead(f, now_ms, ZoneInfo("UTC"))
    assert rain.rain_mm == round(rainy[0].rain_mm, 1) and rain.probability == 0.9
