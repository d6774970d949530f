"""Open datasets (issue 21): a regional user publishes a region's suppressed table for a season as CSV and
Parquet, described by a W3C DCAT v3 record (JSON-LD), after a privacy check on exactly the rows written.

The check is the suppression itself (suppression.suppress), run again over the rows about to be written,
starting from the pattern they carry: if it withholds any cell those rows publish (a cell of fewer than k
farms, or one from which a total less its published parts would come from fewer than k farms), the
publication is refused naming that cell. The files are then made from those same rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..db import Database, OpenDatasetRow
from ..errors import Conflict, NotFound
from .service import EXPECTED, METRICS, Table, within
from .suppression import Withheld, suppress

COLUMNS = ("region", "crop", "withheld", "farms", *METRICS)
CSV_TYPE = "text/csv"
# registered with IANA in 2024 (https://www.iana.org/assignments/media-types/application/vnd.apache.parquet)
PARQUET_TYPE = "application/vnd.apache.parquet"
FILES = {"data.csv": CSV_TYPE, "data.parquet": PARQUET_TYPE}
IANA = "https://www.iana.org/assignments/media-types/"
CONTEXT = {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
           "foaf": "http://xmlns.com/foaf/0.1/", "spdx": "http://spdx.org/rdf/terms#",
           "xsd": "http://www.w3.org/2001/XMLSchema#", "rdfs": "http://www.w3.org/2000/01/rdf-schema#"}

Cell = tuple[str, str]


def rows_of(table: Table, region: str) -> list[dict[str, Any]]:
    """Every cell of `region` and of every region under it, as the regional view shows it: a withheld cell has
    its reason and no figures."""
    out = []
    for cell in sorted(c for c in table.contributors if within(c[0], region)):
        why = table.withheld.get(cell)
        row: dict[str, Any] = {"region": cell[0], "crop": cell[1], "withheld": why.value if why else None}
        if why is None:
            row["farms"] = len(table.contributors[cell])
            row |= table.figures(cell)
        else:
            row |= dict.fromkeys(("farms", *METRICS))
        out.append(row)
    if not out:
        raise NotFound("region", region, "no organisation shares its data in this region")
    return out


def check(rows: list[dict[str, Any]], contributors: Mapping[Cell, frozenset[str]],
          groups: list[tuple[Cell, list[Cell]]], k: int,
          expected_contributors: Mapping[Cell, frozenset[str]] | None = None,
          sparse: Mapping[str, Mapping[Cell, frozenset[str]]] | None = None) -> None:
    """Refuse (409, naming the cell) rows that publish a cell of fewer than `k` farms, or a cell with which a
    total less its published parts comes from fewer than `k` farms: the suppression run again on these rows,
    from the pattern they carry. The same again for the expected yield over the farms that have one
    (`expected_contributors`), from the cells whose expected yield the rows leave empty, and for each figure
    only some farms add to (`sparse`: water, harvest, ground sown and harvested) over the farms that do."""
    cells: dict[Cell, dict[str, Any]] = {}
    for row in rows:
        cell = (row["region"], row["crop"])
        if cell not in contributors:
            raise Conflict("cell", f"{cell[0]} {cell[1]}", "not a cell of the regional table")
        cells[cell] = row
    given = {cell: Withheld(row["withheld"]) for cell, row in cells.items() if row["withheld"]}
    sub = {cell: contributors[cell] for cell in cells}
    sub_groups = [(total, [p for p in parts if p in cells]) for total, parts in groups if total in cells]
    needed = suppress(sub, sub_groups, k, withheld=given)
    # a small group first: the cell that must not be seen, rather than one withheld to protect it
    for cell in sorted(set(needed) - set(given), key=lambda c: (needed[c] is not Withheld.SMALL, c)):
        n = len(contributors[cell])
        reason = (f"made of {n} farm(s), fewer than the minimum of {k}" if needed[cell] is Withheld.SMALL else
                  f"published, a total less its published parts would come from fewer than {k} farms")
        raise Conflict("cell", f"{cell[0]} {cell[1]}", f"would be published but must be withheld: {reason}")
    for cell, row in cells.items():
        if cell not in given and row["farms"] != len(contributors[cell]):
            raise Conflict("cell", f"{cell[0]} {cell[1]}", f"says {row['farms']} farms, the table has "
                           f"{len(contributors[cell])}")
    for m, adding in (sparse or {}).items():
        empty = {cell: Withheld.COMPLEMENT for cell, row in cells.items() if row.get(m) is None}
        needed = suppress({cell: adding.get(cell, frozenset()) for cell in cells}, sub_groups, k, withheld=empty)
        for cell in sorted(set(needed) - set(empty)):
            raise Conflict("cell", f"{cell[0]} {cell[1]}", f"would publish {m} that {k} or more farms do not make "
                           "up (by itself or less its published parts)")
    if expected_contributors is None:
        return
    empty = {cell: Withheld.COMPLEMENT for cell, row in cells.items() if row.get(EXPECTED[0]) is None}
    sub_expected = {cell: expected_contributors.get(cell, frozenset()) for cell in cells}
    needed = suppress(sub_expected, sub_groups, k, withheld=empty)
    for cell in sorted(set(needed) - set(empty)):
        raise Conflict("cell", f"{cell[0]} {cell[1]}", f"would publish an expected yield that {k} or more farms "
                       "do not make up (by itself or less its published parts)")
    for cell, row in cells.items():
        if cell not in empty and row.get(EXPECTED[1]) != len(sub_expected[cell]):
            raise Conflict("cell", f"{cell[0]} {cell[1]}", f"says {row.get(EXPECTED[1])} farms with an expected "
                           f"yield, the table has {len(sub_expected[cell])}")


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """UTF-8, a header, one line per cell; a withheld cell's figures are empty and `withheld` says why."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180
    w.writerow(COLUMNS)
    for row in rows:
        w.writerow(["" if row[c] is None else row[c] for c in COLUMNS])
    return buf.getvalue().encode("utf-8")


def to_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The same columns; a withheld cell's figures are null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("region", pa.string()), ("crop", pa.string()), ("withheld", pa.string()),
                        ("farms", pa.int64()), *((m, pa.float64()) for m in METRICS)])
    table = pa.Table.from_pylist([{c: row[c] for c in COLUMNS} for row in rows], schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def dcat(row: OpenDatasetRow, base: str, license_url: str | None = None) -> dict[str, Any]:
    """The dataset's W3C DCAT v3 record in JSON-LD: title, description, issued, publisher (the regional user
    who approved it), spatial (the region's codes), temporal (the season), the licence (dct:license, on the
    dataset and each distribution, when one is configured) and one distribution per file with its media type,
    byte size and SHA-256 (spdx:checksum)."""
    url = f"{base.rstrip('/')}/open-data/{row.id}"
    temporal: dict[str, Any] = {"@type": "dct:PeriodOfTime", "rdfs:label": f"season {row.season}"}
    if re.fullmatch(r"\d{4}", row.season):
        year = {"@value": row.season, "@type": "xsd:gYear"}
        temporal |= {"dcat:startDate": year, "dcat:endDate": year}
    dists = []
    licence = {"dct:license": {"@id": license_url}} if license_url else {}
    for name, media in FILES.items():
        data = row.csv if name == "data.csv" else row.parquet
        dists.append({
            "@id": f"{url}/{name}", "@type": "dcat:Distribution", "dct:title": name,
            "dcat:downloadURL": {"@id": f"{url}/{name}"}, "dcat:accessURL": {"@id": f"{url}/{name}"},
            "dcat:mediaType": {"@id": IANA + media},
            "dcat:byteSize": {"@value": str(len(data)), "@type": "xsd:nonNegativeInteger"},
            "spdx:checksum": {"@type": "spdx:Checksum", "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                              "spdx:checksumValue": hashlib.sha256(data).hexdigest()}} | licence)
    return {
        "@context": CONTEXT, "@id": url, "@type": "dcat:Dataset", "dct:identifier": row.id,
        "dct:title": row.title, "dct:description": row.description,
        "dct:issued": {"@value": _iso(row.issued_ms), "@type": "xsd:dateTime"},
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": row.by},
        "dct:spatial": {"@type": "dct:Location", "dct:identifier": row.region, "rdfs:label": f"region {row.region}"},
        "dct:temporal": temporal,
        "dcat:keyword": ["agriculture", "crops", "irrigation"],
        "dcat:distribution": dists,
    } | licence


def catalog(records: list[dict[str, Any]], base: str) -> dict[str, Any]:
    """The service's open datasets as one DCAT catalogue (JSON-LD), for portals that harvest DCAT."""
    return {"@context": CONTEXT, "@id": f"{base.rstrip('/')}/open-data", "@type": "dcat:Catalog",
            "dct:title": "Furrow regional open data",
            "dct:description": "Aggregates of farms' crop and irrigation data by region and crop, small groups "
                               "withheld.",
            "dcat:dataset": [{k: v for k, v in r.items() if k != "@context"} for r in records]}


def publish_sync(session: Session, rows: list[dict[str, Any]], region: str, season: str, k: int, by: str,
                 title: str | None, description: str | None, now_ms: int) -> OpenDatasetRow:
    """Write the (checked) rows as the dataset's files."""
    row = OpenDatasetRow(
        id=secrets.token_hex(8), region=region, season=season, min_farms=k,
        title=title or f"Crops and water, region {region}, season {season}",
        description=description or (f"Aggregates over the farms of region {region} that share their data, "
                                     f"season {season}, by region and crop; cells of fewer than {k} farms, and "
                                     "cells that would give them away by subtraction, are withheld "
                                     "(column withheld)."),
        by=by, issued_ms=now_ms, rows=len(rows), csv=to_csv(rows), parquet=to_parquet(rows))
    session.add(row)
    session.flush()
    return row


class OpenData:
    """Published datasets: publish (checked), list, and their files."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def publish(self, table: Table, region: str, season: str, k: int, by: str, title: str | None,
                      description: str | None, now_ms: int) -> OpenDatasetRow:
        rows = rows_of(table, region)
        check(rows, table.contributors, table.groups, k, table.expected_contributors, table.sparse_contributors)
        return await self._db.run(lambda s: publish_sync(s, rows, region, season, k, by, title, description,
                                                         now_ms))

    async def get(self, dataset: str) -> OpenDatasetRow | None:
        """The dataset, withdrawn or not (None: no dataset ever had this id)."""
        return await self._db.run(lambda s: s.get(OpenDatasetRow, dataset))

    async def all(self, *, withdrawn: bool = False) -> list[OpenDatasetRow]:
        """Newest first; the withdrawn ones only when asked for."""
        q = select(OpenDatasetRow).order_by(OpenDatasetRow.issued_ms.desc(), OpenDatasetRow.id)
        if not withdrawn:
            q = q.where(OpenDatasetRow.withdrawn_ms.is_(None))
        return await self._db.run(lambda s: list(s.scalars(q)))

    async def withdraw(self, dataset: str, scope: str, by: str, reason: str | None, now_ms: int) -> OpenDatasetRow:
        """Withdraw a dataset of `scope` (the caller's region): its files are emptied for good, its id answers
        410 and the catalogue drops it. Unknown or outside the scope: 404; already withdrawn: 409."""
        def run(s: Session) -> OpenDatasetRow:
            row = s.get(OpenDatasetRow, dataset)
            if row is None or not within(row.region, scope):
                raise NotFound("dataset", dataset, "no published dataset of this user's region has this id")
            if row.withdrawn_ms is not None:
                raise Conflict("dataset", dataset, f"already withdrawn by {row.withdrawn_by}")
            row.withdrawn_ms, row.withdrawn_by, row.withdrawn_reason = now_ms, by, reason
            row.csv = row.parquet = b""
            s.flush()
            return row
        return await self._db.run(run)
