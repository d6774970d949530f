"""Open datasets (issue 21): the bureau publishes the test region of tests/test_regional.py as CSV and Parquet
with a DCAT record; the files hold exactly the regional view's published cells and withholdings, no cell or
difference of cells from fewer than k farms; the record's sizes and SHA-256s are the files'; tampered rows and
a small group are refused naming the cell; the audit log names the approver; the files need no login."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from urllib.parse import urlsplit

import httpx
import pyarrow.parquet as pq
import pytest
from rdflib import Graph, Namespace, URIRef
from rdflib import namespace as ns  # a module: pytest does not look into its vocabularies as test names

from furrow.cloud.auth import Role
from furrow.cloud.errors import Conflict
from furrow.cloud.regional import Withheld
from furrow.cloud.regional.opendata import COLUMNS, check, to_csv
from tests.cloud_support import local_settings, problem, running_app
from tests.test_regional import K, _region, farms_in

REGIONS = ("65", "65/01", "65/02", "65/01/01", "65/01/02", "65/02/01")
SPDX = Namespace("http://spdx.org/rdf/terms#")
FIGURES = [c for c in COLUMNS if c not in ("region", "crop", "withheld")]


def _public(c) -> httpx.AsyncClient:  # noqa: ANN001
    """A client with no token at all."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=c.app), base_url="http://furrow.test")


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # rdflib 7.6
async def test_a_published_dataset_is_the_regional_view_checked_described_and_open(tmp_path):
    async with running_app(local_settings(tmp_path)) as c:
        bureau = {"Authorization": f"Bearer {await _region(c)}"}
        view: dict[tuple[str, str], dict] = {}
        for region in REGIONS:
            r = await c.get("/api/v1/regional", params={"region": region, "season": "2026"}, headers=bureau)
            view |= {(x["region"], x["crop"]): x for x in r.json()["cells"]}
        r = await c.post("/api/v1/regional/datasets", json={"season": "2026", "region": "65"}, headers=bureau)
        assert r.status_code == 201, r.text
        record = r.json()
        assert record["@type"] == "dcat:Dataset" and record["dct:spatial"]["dct:identifier"] == "65"
        assert record["dct:publisher"]["foaf:name"] == "bureau" and record["dct:issued"]["@type"] == "xsd:dateTime"
        assert record["dct:temporal"]["dcat:startDate"] == {"@value": "2026", "@type": "xsd:gYear"}
        assert record["dct:title"] and record["dct:description"]
        assert record["dct:license"] == {"@id": "https://creativecommons.org/licenses/by/4.0/"}  # the default
        files = {}
        async with _public(c) as anyone:
            for dist in record["dcat:distribution"]:
                r = await anyone.get(urlsplit(dist["dcat:downloadURL"]["@id"]).path)
                assert r.status_code == 200, r.text
                assert dist["dcat:mediaType"]["@id"].endswith(r.headers["content-type"].split(";")[0])
                assert int(dist["dcat:byteSize"]["@value"]) == len(r.content)
                assert dist["spdx:checksum"]["spdx:checksumValue"] == hashlib.sha256(r.content).hexdigest()
                assert dist["spdx:checksum"]["spdx:algorithm"]["@id"] == "spdx:checksumAlgorithm_sha256"
                files[dist["dct:title"]] = r.content
            r = await anyone.get(f"/open-data/{record['dct:identifier']}/dcat.jsonld")
            assert r.status_code == 200 and r.json() == record
            listed = (await anyone.get("/open-data")).json()
            assert listed["@type"] == "dcat:Catalog" and listed["dcat:dataset"] == [
                {k: v for k, v in record.items() if k != "@context"}]
            assert (await anyone.get("/open-data/nope/data.csv")).status_code == 404
            assert (await anyone.get(f"/open-data/{record['dct:identifier']}/x.csv")).status_code == 404
        assert set(files) == {"data.csv", "data.parquet"}
        # the record read as RDF (rdflib's JSON-LD parser): the DCAT and SPDX terms are the vocabularies' own
        g = Graph().parse(data=json.dumps(record), format="json-ld")
        ds = URIRef(record["@id"])
        assert (ds, ns.RDF.type, ns.DCAT.Dataset) in g and g.value(ds, ns.DCTERMS.issued).datatype == ns.XSD.dateTime
        assert g.value(ds, ns.DCTERMS.license) == URIRef("https://creativecommons.org/licenses/by/4.0/")
        assert str(g.value(g.value(ds, ns.DCTERMS.publisher), ns.FOAF.name)) == "bureau"
        assert str(g.value(g.value(ds, ns.DCTERMS.spatial), ns.DCTERMS.identifier)) == "65"
        assert str(g.value(g.value(ds, ns.DCTERMS.temporal), ns.DCAT.startDate)) == "2026"
        for name, data in files.items():
            dist = URIRef(f"{record['@id']}/{name}")
            assert (ds, ns.DCAT.distribution, dist) in g and (dist, ns.RDF.type, ns.DCAT.Distribution) in g
            assert g.value(dist, ns.DCAT.byteSize).toPython() == len(data)
            checksum = g.value(dist, SPDX.checksum)
            assert g.value(checksum, SPDX.algorithm) == SPDX.checksumAlgorithm_sha256
            assert str(g.value(checksum, SPDX.checksumValue)) == hashlib.sha256(data).hexdigest()
        iana = "https://www.iana.org/assignments/media-types/"
        assert {str(g.value(URIRef(f"{record['@id']}/{n}"), ns.DCAT.mediaType)) for n in files} == {
            iana + "text/csv", iana + "application/vnd.apache.parquet"}
        rows = list(csv.DictReader(io.StringIO(files["data.csv"].decode("utf-8"))))
        from_parquet = pq.read_table(io.BytesIO(files["data.parquet"])).to_pylist()
        assert [list(x) for x in from_parquet] == [list(COLUMNS)] * len(rows)
        assert {(x["region"], x["crop"]) for x in rows} == set(view)  # every cell of 65 and under, once
        published = {}
        for row, prow in zip(rows, from_parquet, strict=True):
            cell = view[(row["region"], row["crop"])]
            assert (prow["region"], prow["crop"]) == (row["region"], row["crop"])
            if row["withheld"]:
                assert row["withheld"] == cell["withheld"] == prow["withheld"]
                assert all(row[f] == "" and prow[f] is None for f in FIGURES), row
            else:
                assert cell["withheld"] is None and prow["withheld"] is None
                for f in FIGURES:  # an empty figure (no farm with an expected yield) is null in all three
                    assert (None if row[f] == "" else float(row[f])) == cell[f] == prow[f], (row, f)
                made_of = farms_in(float(row["area_ha"]))
                assert len(made_of) == int(row["farms"]) >= K, (row, made_of)
                published[(row["region"], row["crop"])] = float(row["area_ha"])
        assert rows[0].keys() == set(COLUMNS)
        withheld = {(x["region"], x["crop"]) for x in rows if x["withheld"]}
        assert {("65/01/02", "maize"), ("65/02/01", "wheat"), ("65/01/01", "maize")} <= withheld
        # no total less its published parts (sub-regions, or crops) is made of 1 or 2 farms
        crops = {c for _, c in view} - {"*"}
        checked = 0
        for region, crop in published:
            children = [r for r in REGIONS if r.rsplit("/", 1)[0] == region and "/" in r]
            for parts in ([(ch, crop) for ch in children], [(region, c) for c in crops] if crop == "*" else []):
                if parts:
                    rest = published[(region, crop)] - sum(published.get(p, 0) for p in parts)
                    assert len(farms_in(rest)) == 0 or len(farms_in(rest)) >= K, (region, crop, farms_in(rest))
                    checked += 1
        assert checked >= 4
        # the approver, in the service's audit log (the bureau is a user of the organisation that runs it)
        log = (await c.get("/api/v1/audit")).json()
        (entry,) = [e for e in log if e["action"] == "regional.publish"]
        assert entry["actor"] == "bureau" and entry["target"] == f"dataset:{record['dct:identifier']}"
        assert entry["detail"]["csv_sha256"] == hashlib.sha256(files["data.csv"]).hexdigest()
        assert entry["detail"]["rows"] == len(rows) and entry["detail"]["min_farms"] == K
        # a sub-region publishes its own cells only
        r = await c.post("/api/v1/regional/datasets", json={"season": "2026", "region": "65/02"}, headers=bureau)
        assert r.status_code == 201 and r.json()["dct:spatial"]["dct:identifier"] == "65/02"
        r = await c.post("/api/v1/regional/datasets", json={"season": "2026", "region": "66"}, headers=bureau)
        assert r.status_code == 404 and problem(r)["field"] == "region"


async def test_rows_that_drop_a_withholding_are_refused_naming_the_cell_and_logged(tmp_path):
    """The service's table with a withholding taken out (a bug, or tampering): the check at publication runs
    the suppression again on the rows and refuses, naming the cell; nothing is published; the refusal and who
    asked are in the audit log."""
    async with running_app(local_settings(tmp_path)) as c:
        bureau = {"Authorization": f"Bearer {await _region(c)}"}
        regional = c.app.state.services.regional
        honest = regional.full_table
        for cell, why in ((("65/01/02", "maize"), "made of 1 farm"),
                          (("65/01/01", "maize"), "a total less its published parts")):
            async def tampered(season, k, now_ms, cell=cell):  # noqa: ANN001, ANN202
                t = await honest(season, k, now_ms)
                del t.withheld[cell]
                return t
            regional.full_table = tampered
            r = await c.post("/api/v1/regional/datasets", json={"season": "2026"}, headers=bureau)
            assert r.status_code == 409, r.text
            assert problem(r)["field"] == "cell" and problem(r)["value"] == f"{cell[0]} {cell[1]}"
            assert why in problem(r)["reason"]
        async with _public(c) as anyone:
            assert (await anyone.get("/open-data")).json()["dcat:dataset"] == []
        refused = [e for e in (await c.get("/api/v1/audit")).json() if e["action"] == "regional.publish_refused"]
        assert [e["actor"] for e in refused] == ["bureau", "bureau"]
        assert {e["detail"]["cell"] for e in refused} == {"65/01/02 maize", "65/01/01 maize"}


def test_check_refuses_a_small_cell_a_derivable_difference_and_a_wrong_farm_count():
    """A total of 4 farms with parts of 3 and 1 (tests/test_regional.py's worked case): only the pattern that
    withholds both parts passes."""
    a = frozenset({"a", "b", "c"})
    contributors = {("T", "*"): a | {"x"}, ("A", "*"): a, ("X", "*"): frozenset({"x"})}
    groups = [(("T", "*"), [("A", "*"), ("X", "*")])]

    def rows(a_withheld, x_withheld, a_farms=3):  # noqa: ANN001, ANN202
        out = [{"region": "T", "crop": "*", "withheld": None, "farms": 4}]
        out.append({"region": "A", "crop": "*", "withheld": a_withheld, "farms": None if a_withheld else a_farms})
        out.append({"region": "X", "crop": "*", "withheld": x_withheld, "farms": None if x_withheld else 1})
        return out

    check(rows(Withheld.COMPLEMENT, Withheld.SMALL), contributors, groups, 3)
    for bad, cell, why in ((rows(None, Withheld.SMALL), "A *", "total less"),
                           (rows(None, None), "X *", "made of 1 farm"),
                           (rows(Withheld.COMPLEMENT, None), "X *", "made of 1 farm")):
        with pytest.raises(Conflict, match=why) as e:
            check(bad, contributors, groups, 3)
        assert (e.value.field, e.value.value) == ("cell", cell)
    # a published count that is not the table's
    contributors[("B", "*")] = frozenset("defg")
    with pytest.raises(Conflict, match="says 5 farms"):
        check([{"region": "B", "crop": "*", "withheld": None, "farms": 5}], contributors, [], 3)
    # withheld figures are empty in the CSV, and the flag says why
    text = to_csv([{c: None for c in COLUMNS} | {"region": "X", "crop": "*", "withheld": "small_group"}]).decode()
    assert text.splitlines()[1] == "X,*,small_group" + "," * (len(COLUMNS) - 3)


async def test_a_withdrawn_dataset_is_gone_from_the_catalogue_and_its_files_answer_410(tmp_path):
    """The bureau publishes two datasets and withdraws one, with a reason: its CSV, Parquet and DCAT record
    answer 410 naming the reason, the catalogue lists only the other, the bureau's list shows it withdrawn
    with no file addresses, and the audit log has who and why. Withdrawing again is 409; a bureau of another
    region gets 404 and a farm's admin 403. With no licence configured the record names none."""
    settings = local_settings(tmp_path).model_copy(update={"open_data_license": None})
    async with running_app(settings) as c:
        bureau = {"Authorization": f"Bearer {await _region(c)}"}
        services = c.app.state.services
        other = {"Authorization": f"Bearer {(await services.tokens.issue('far', Role.REGIONAL, 1, region='66')).token}"}
        ids = []
        for region in ("65", "65/02"):
            r = await c.post("/api/v1/regional/datasets", json={"season": "2026", "region": region}, headers=bureau)
            assert r.status_code == 201, r.text
            assert "dct:license" not in r.json()
            ids.append(r.json()["dct:identifier"])
        gone, kept = ids
        r = await c.delete(f"/api/v1/regional/datasets/{gone}", headers=other)
        assert r.status_code == 404 and (problem(r)["field"], problem(r)["value"]) == ("dataset", gone)
        assert (await c.delete(f"/api/v1/regional/datasets/{gone}")).status_code == 403  # the farm's admin
        r = await c.delete(f"/api/v1/regional/datasets/{gone}", params={"reason": "a farm left the programme"},
                           headers=bureau)
        assert r.status_code == 200, r.text
        assert r.json()["withdrawn_by"] == "bureau" and r.json()["files"] == {}
        r = await c.delete(f"/api/v1/regional/datasets/{gone}", headers=bureau)
        assert r.status_code == 409 and problem(r)["field"] == "dataset"
        async with _public(c) as anyone:
            for name in ("data.csv", "data.parquet", "dcat.jsonld"):
                r = await anyone.get(f"/open-data/{gone}/{name}")
                assert r.status_code == 410, (name, r.text)
                assert problem(r)["value"] == gone and "a farm left the programme" in problem(r)["reason"]
                assert (await anyone.get(f"/open-data/{kept}/{name}")).status_code == 200
            listed = (await anyone.get("/open-data")).json()["dcat:dataset"]
            assert [d["dct:identifier"] for d in listed] == [kept]
        mine = (await c.get("/api/v1/regional/datasets", headers=bureau)).json()
        assert {d["id"]: d["withdrawn_reason"] for d in mine} == {gone: "a farm left the programme", kept: None}
        assert set(next(d for d in mine if d["id"] == kept)["files"]) == {"data.csv", "data.parquet", "dcat.jsonld"}
        assert (await c.get("/api/v1/regional/datasets", headers=other)).json() == []
        (entry,) = [e for e in (await c.get("/api/v1/audit")).json() if e["action"] == "regional.withdraw"]
        assert entry["actor"] == "bureau" and entry["target"] == f"dataset:{gone}"
        assert entry["detail"]["reason"] == "a farm left the programme"


def test_check_refuses_an_expected_yield_that_fewer_than_k_farms_make_up():
    """Cells of 6 = 3 + 3 farms, all published; only a, b, c and d have an expected yield. Rows giving it for
    the total alone pass; giving it for the total and the abc part too lets the total less that part show d's,
    refused naming the part; giving it for d's part, refused naming that part; a wrong farm count, refused."""
    a, b = frozenset("abc"), frozenset("def")
    contributors = {("T", "*"): a | b, ("A", "*"): a, ("B", "*"): b}
    groups = [(("T", "*"), [("A", "*"), ("B", "*")])]
    expected = {("T", "*"): a | {"d"}, ("A", "*"): a, ("B", "*"): frozenset("d")}

    def rows(t, a_, b_):  # noqa: ANN001, ANN202
        out = []
        for region, farms, ey, n in (("T", 6, t, 4), ("A", 3, a_, 3), ("B", 3, b_, 1)):
            out.append({"region": region, "crop": "*", "withheld": None, "farms": farms,
                        "expected_yield_t": ey, "expected_yield_farms": None if ey is None else n})
        return out

    check(rows(None, None, None), contributors, groups, 3, expected)
    check(rows(40.0, None, None), contributors, groups, 3, expected)
    for bad, cell in ((rows(40.0, 30.0, None), "A *"), (rows(40.0, None, 10.0), "B *"),
                      (rows(None, None, 10.0), "B *")):
        with pytest.raises(Conflict, match="expected yield") as e:
            check(bad, contributors, groups, 3, expected)
        assert e.value.value == cell
    wrong = rows(40.0, None, None)
    wrong[0]["expected_yield_farms"] = 5
    with pytest.raises(Conflict, match="says 5 farms with an expected yield"):
        check(wrong, contributors, groups, 3, expected)
