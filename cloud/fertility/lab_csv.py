"""A lab's CSV of soil-test results to samples, through the lab's stored column mapping (models.LabMappingIn).

Pure: bytes in, (good rows, bad cells) out. Every cell of a row is checked, so a row with two bad
cells names both; a row with any bad cell is left out whole, the others are kept. Rows are
numbered as a spreadsheet shows them (the header is row 1). The text is UTF-8 (with or without a
byte-order mark) or, failing that, GB 18030 (what Chinese spreadsheet software writes by default).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

from furrow.edge.errors import ContractError

from .models import CellError, LabMappingIn
from .units import convert

MAX_ROWS = 5000
_DEPTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[-~～–]\s*(\d+(?:\.\d+)?)\s*(?:cm)?\s*$")


@dataclass(frozen=True)
class Row:
    """One good row: its number, zone, and the sample's fields (results in stored units)."""

    row: int
    zone_id: str
    fields: dict[str, object]


def decode(data: bytes) -> str:
    """The CSV's text: UTF-8 (BOM or not), else GB 18030; ContractError when it is neither."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("gb18030")
        except UnicodeDecodeError:
            raise ContractError("body", f"{len(data)} bytes", "not UTF-8 or GB 18030 text") from None


def parse(data: bytes, mapping: LabMappingIn, lab: str, zone: str | None,
          zones: set[str]) -> tuple[list[Row], list[CellError]]:
    """Good rows and every bad cell (module docstring). `zone` is the one zone of an import whose
    mapping has no zone column; `zones` the registry's zone ids a row may name."""
    reader = csv.DictReader(io.StringIO(decode(data)), delimiter=mapping.delimiter)
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    wanted = [c for c in (mapping.zone, mapping.sampled_on, mapping.lab_sample_id, mapping.point, mapping.lat,
                          mapping.lon, mapping.depth) if c] + [r.column for r in mapping.results.values()]
    missing = [c for c in wanted if c not in header]
    if missing:
        return [], [CellError(row=1, column=c, value=None, reason="the lab's mapping names this column; the "
                              "header has none") for c in missing]
    if mapping.zone is None and zone is None:
        raise ContractError("zone", None, "the lab's mapping has no zone column: name the zone of this import")
    good: list[Row] = []
    errors: list[CellError] = []
    for i, raw in enumerate(reader, start=2):
        if i - 1 > MAX_ROWS:
            errors.append(CellError(row=i, column="", value=None, reason=f"more than {MAX_ROWS} rows: the rest "
                                    "were not read"))
            break
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue  # a blank line
        bad: list[CellError] = []

        def cell(column: str, reason: str, value: str | None = None, _bad: list[CellError] = bad,
                 _row: dict = row, _i: int = i) -> None:
            _bad.append(CellError(row=_i, column=column, value=_row.get(column) if value is None else value,
                                  reason=reason))

        zone_id = row.get(mapping.zone, "") if mapping.zone else zone
        if mapping.zone and zone_id not in zones:
            cell(mapping.zone, "no zone with this id in the registry")
        fields: dict[str, object] = {}
        try:
            fields["sampled_on"] = datetime.strptime(row[mapping.sampled_on], mapping.date_format).date()
        except ValueError:
            cell(mapping.sampled_on, f"not a date as {mapping.date_format}")
        for name, column in (("lab_sample_id", mapping.lab_sample_id), ("point", mapping.point)):
            if column:
                fields[name] = row[column][:64] or None
        for name, column, lo, hi in (("lat", mapping.lat, -90, 90), ("lon", mapping.lon, -180, 180)):
            if column and row[column]:
                try:
                    v = float(row[column])
                    if not lo <= v <= hi:
                        raise ValueError
                    fields[name] = v
                except ValueError:
                    cell(column, f"not a {'latitude' if name == 'lat' else 'longitude'} in degrees ({lo}..{hi})")
        if (fields.get("lat") is None) != (fields.get("lon") is None) and not bad:
            cell(mapping.lat or mapping.lon or "", "a location needs both latitude and longitude")
        if mapping.depth and row[mapping.depth]:
            m = _DEPTH.match(row[mapping.depth])
            if m is None or float(m.group(2)) <= float(m.group(1)):
                cell(mapping.depth, "not a depth range in cm such as 0-20")
            else:
                fields["depth_top_cm"], fields["depth_bottom_cm"] = float(m.group(1)), float(m.group(2))
        results: dict[str, float] = {}
        given: dict[str, dict[str, object]] = {}
        for name, col in mapping.results.items():
            text = row[col.column]
            if not text or text in ("-", "—", "ND", "n.d."):
                continue  # not measured for this sample
            try:
                results[name] = convert(name, text, col.unit)
                given[name] = {"value": text, "unit": col.unit}
            except ContractError as e:
                cell(col.column, e.reason)
        if not results and not bad:
            cell("", "no result in this row")
        if bad:
            errors.extend(bad)
            continue
        fields["results"], fields["given"] = results, given
        good.append(Row(i, str(zone_id), fields))
    return good, errors
