"""The regional view as the API gives it."""

from pydantic import BaseModel, Field

from .suppression import Withheld


class RegionalCell(BaseModel):
    """One region and crop ("*": all crops): the sums over its farms, or why they are withheld."""

    region: str = Field(description="administrative codes, province/city/county")
    crop: str = Field(description='a crop, or "*" for every crop together')
    withheld: Withheld | None = Field(default=None, description="small_group: fewer than min_farms farms; "
                                      "complementary: withheld so that a small group cannot be subtracted out")
    farms: int | None = Field(default=None, description="organisations counted (never fewer than min_farms)")
    zones: float | None = None
    area_ha: float | None = Field(default=None, description="the zones' registered area")
    planted_ha: float | None = Field(default=None, description="sown ground (machine sowing operations)")
    harvested_area_ha: float | None = Field(default=None, description="harvested ground (machine operations)")
    harvested_kg: float | None = Field(default=None, description="the season's harvest records")
    water_m3: float | None = Field(default=None, description="the season's irrigation records, mm over the zone")
    alerts_open: float | None = Field(default=None, description="alerts not yet resolved on the zones")
    pest_farms_over: float | None = Field(default=None, description="farms with a zone where a pest species' trap "
                                          "catch was at or over that species' action threshold in the last 7 days")
    pest_zones_over: float | None = Field(default=None, description="zones where a pest species' trap catch was "
                                          "at or over that species' action threshold in the last 7 days")
    expected_yield_t: float | None = Field(default=None, description="FAO-33 expected yield, tonnes, summed over "
                                           "the zones with an estimate (planting date, weather, the farm's Ym); "
                                           "null when fewer than min_farms farms have one (or a difference would "
                                           "show them)")
    expected_yield_farms: float | None = Field(default=None, description="the farms counted in expected_yield_t")


class RegionalView(BaseModel):
    region: str
    season: str
    min_farms: int = Field(description="a cell of fewer farms is withheld (FURROW_REGIONAL_MIN_FARMS)")
    cells: list[RegionalCell]
