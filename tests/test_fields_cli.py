"""`furrow fields boundaries` and `furrow fields operation` against a real uvicorn: a GeoJSON of two fields
sets both boundaries, an unknown field is refused without stopping the other, a bad file names its
feature; a CSV track becomes an operation and the progress shows it."""

from __future__ import annotations

import httpx
import pytest

from furrow.cloud import create_app
from furrow.cloud.vigour.boundaries import as_geojson
from tests.cloud_support import ADMIN, local_settings
from tests.http_support import UvicornThread
from tests.test_commissioning_cli import furrow
from tests.test_fields_geofiles import geojson_in_utm, utm_box
from tests.test_machinery_coverage import back_and_forth, field
from tests.test_machinery_operations import csv_track


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    with UvicornThread(create_app(local_settings(tmp_path_factory.mktemp("fields")))) as server:
        for path, body in [("sites", {"id": "s1", "name": "Farm"}),
                           ("fields", {"id": "north", "site_id": "s1", "name": "North"}),
                           ("fields", {"id": "f1", "site_id": "s1", "name": "Hebei plot"})]:
            httpx.post(f"{server.url}/api/v1/registry/{path}", json=body, headers=ADMIN, timeout=10).raise_for_status()
        server.admin = ADMIN["Authorization"].split()[1]  # type: ignore[attr-defined]
        yield server


def test_boundaries_from_a_file_are_set_and_a_refusal_stops_only_its_field(api, capsys, monkeypatch, tmp_path):
    """north gets its 4.003 ha (a 200 m UTM square where k = 0.9996); "south" is not in the registry:
    exit 1 naming it, and north is still set."""
    path = tmp_path / "fields.geojson"
    path.write_bytes(geojson_in_utm([("north", utm_box(0, 0, 200, 200)), ("south", utm_box(0, -300, 100, 100))]))
    rc, out, err = furrow(capsys, monkeypatch, api.admin, "fields", "boundaries", str(path), "--api", api.url)
    assert rc == 1 and "field north: 4.003" in out and "field south" in err and "404" in err, out + err
    north = httpx.get(f"{api.url}/api/v1/registry/fields/north", headers=ADMIN, timeout=10).json()
    assert north["boundary_area_ha"] == pytest.approx(4.0, rel=1e-3)


def test_a_bad_boundary_file_is_named_with_exit_2(api, capsys, monkeypatch, tmp_path):
    """A file without the key attribute: exit 2 naming the attribute, nothing sent."""
    path = tmp_path / "fields.geojson"
    path.write_bytes(geojson_in_utm([("north", utm_box(0, 0, 200, 200))]))
    rc, _, err = furrow(capsys, monkeypatch, api.admin, "fields", "boundaries", str(path), "--key", "parcel",
                        "--api", api.url)
    assert rc == 2 and "key='parcel'" in err, err


def test_an_operation_from_a_csv_track(api, capsys, monkeypatch, tmp_path):
    """Two 10 m passes side by side over the 100 x 200 m field: 0.4 ha, 20%; the progress shows sowing at 20%."""
    r = httpx.put(f"{api.url}/api/v1/registry/fields/f1/boundary", json=as_geojson(field()), headers=ADMIN, timeout=10)
    assert r.status_code == 200, r.text
    track = tmp_path / "day1.csv"
    track.write_text(csv_track(back_and_forth([5, 15])))
    rc, out, err = furrow(capsys, monkeypatch, api.admin, "fields", "operation", str(track), "--field", "f1",
                          "--kind", "sowing", "--machine", "tractor-2", "--implement", "drill", "--width-m", "10",
                          "--api", api.url)
    assert rc == 0 and "covered 0.4000 ha (20.0%)" in out and "7.2 km/h" in out, out + err
    progress = httpx.get(f"{api.url}/api/v1/fields/f1/progress", headers=ADMIN, timeout=10).json()
    assert progress["kinds"][0]["covered_pct"] == pytest.approx(20.0, rel=1e-3)
    bad = tmp_path / "day1.kml"
    bad.write_text("<kml/>")
    rc, _, err = furrow(capsys, monkeypatch, api.admin, "fields", "operation", str(bad), "--field", "f1",
                        "--kind", "sowing", "--machine", "m", "--implement", "i", "--width-m", "10", "--api", api.url)
    assert rc == 2 and ".gpx, .csv or .geojson" in err
