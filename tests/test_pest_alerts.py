"""Per-species pest alerts (agronomy/alerts.py): each species against its own cited action threshold,
naming the species, the traps, the trend and the control window, with the threshold's source."""

from datetime import UTC, datetime

from furrow.cloud.agronomy.alerts import AlertKind, FarmState, Severity, SpeciesPressure, evaluate_alerts

NOW = datetime(2026, 6, 14, 23, tzinfo=UTC)
CEW = SpeciesPressure(zone="z1", species="helicoverpa-zea", name="Helicoverpa zea", value=4.0, threshold=1.0,
                      per="night", traps=("cam-01",), trend="rising", source="Purdue Vegetable Crops Hotline",
                      window=("2026-06-11", "2026-06-21"))


def test_a_species_over_its_threshold_says_which_traps_trend_and_window():
    """4 moths per trap per night against 1 (Purdue): a critical alert (twice the threshold) on zone/species,
    its message naming the traps, the trend and the window, its evidence the threshold's source."""
    (alert,) = evaluate_alerts(FarmState(now=NOW, species=[CEW]))
    assert (alert.kind, alert.subject, alert.severity) == (AlertKind.PEST_SPECIES, "z1/helicoverpa-zea",
                                                          Severity.CRITICAL)
    assert alert.message == ("Helicoverpa zea: 4.0 per trap per night at cam-01 ≥ action threshold 1, trend rising; "
                             "control window 2026-06-11 to 2026-06-21")
    assert alert.evidence["source"] == "Purdue Vegetable Crops Hotline" and alert.evidence["per"] == "night"
    assert alert.i18n.key == "alert.pest-species-night" and alert.i18n.params["window"].key == "alert.pest-window"


def test_each_species_is_held_to_its_own_threshold():
    """50 corn borer moths a week against 60 raise nothing; 1.5 earworm moths a night against 1 a warning."""
    ecb = SpeciesPressure(zone="z1", species="ostrinia-nubilalis", name="Ostrinia nubilalis", value=50.0,
                          threshold=60.0, per="week", traps=("a", "b"), trend="steady", source="UMaine")
    cew = SpeciesPressure(**{**CEW.__dict__, "value": 1.5, "window": None})
    (alert,) = evaluate_alerts(FarmState(now=NOW, species=[ecb, cew]))
    assert alert.subject == "z1/helicoverpa-zea" and alert.severity is Severity.WARNING
    assert alert.message.endswith("no control window forecast")


def test_a_threshold_set_for_another_crop_says_so_and_stays_a_warning():
    """The cotton bollworm's threshold (3 a week) was set for processing tomatoes: on a maize zone 7 a week,
    over twice it, is a warning, not critical, and the message and evidence say whose threshold it is."""
    hb = SpeciesPressure(zone="z1", species="helicoverpa-armigera", name="Helicoverpa armigera", value=7.0,
                         threshold=3.0, per="week", traps=("trap-north",), trend="rising", source="Sousa et al. 2021",
                         threshold_crops=("tomato",), crop="maize")
    (alert,) = evaluate_alerts(FarmState(now=NOW, species=[hb]))
    assert alert.severity is Severity.WARNING
    assert alert.message == ("Helicoverpa armigera: 7.0 per trap per week at trap-north ≥ action threshold 3 set for "
                             "tomato, not maize, trend rising; no control window forecast")
    assert alert.i18n.key == "alert.pest-species-week-other-crop" and alert.i18n.params["crops"] == ["tomato"]
    assert (alert.evidence["threshold_crops"], alert.evidence["crop"]) == (["tomato"], "maize")
