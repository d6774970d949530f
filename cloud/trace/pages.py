"""A harvest lot on paper and on a phone: the public page (from the published view alone, publish.py) and the
printable report for the farm, with a QR code of the public page's address (segno, pure Python). In Chinese or
English; every value is HTML-escaped."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

import segno

LANGS = ("zh", "en")

TEXT: dict[str, dict[str, str]] = {
    "en": {"title": "Harvest lot", "field": "Field", "region": "Farm", "area": "Area", "crop": "Crop",
           "sown": "Sown", "harvested": "Harvested", "quantity": "Quantity", "seed_lots": "Seed lots",
           "fertilisers": "Fertilisers", "sprays": "Crop protection", "phi": "pre-harvest interval",
           "phi_met": "respected", "phi_not_met": "NOT respected", "days_before": "days before harvest",
           "water": "Water", "irrigations": "irrigations", "verified": "Records verified",
           "verified_yes": "yes: every record's hash chain and signature check out",
           "verified_no": "NO: a record was altered or is missing", "boundary": "Outline (GeoJSON)",
           "none": "none", "report": "Lot report", "scan": "Scan for the public page",
           "not_published": "Not published: no public page, no QR code.", "published_items": "Published",
           "operations": "Operations", "kind": "kind", "date": "date", "source": "source",
           "footer": "Production records kept by Furrow: append-only and hash-chained."},
    "zh": {"title": "收获批次", "field": "地块", "region": "农场", "area": "面积", "crop": "作物",
           "sown": "播种", "harvested": "收获", "quantity": "数量", "seed_lots": "种子批号",
           "fertilisers": "施肥", "sprays": "植保用药", "phi": "安全间隔期",
           "phi_met": "已遵守", "phi_not_met": "未遵守", "days_before": "天（距收获）",
           "water": "灌溉", "irrigations": "次灌溉", "verified": "记录校验",
           "verified_yes": "通过：每条记录的哈希链与签名均核验无误",
           "verified_no": "未通过：有记录被改动或缺失", "boundary": "地块边界（GeoJSON）",
           "none": "无", "report": "批次报告", "scan": "扫码查看公开页面",
           "not_published": "未公开：无公开页面，无二维码。", "published_items": "公开内容",
           "operations": "农事记录", "kind": "类型", "date": "日期", "source": "来源",
           "footer": "生产记录由 Furrow 保存：只追加、哈希链接。"},
}


def choose_lang(query: str | None, accept_language: str | None) -> str:
    """?lang= first (zh, zh-CN, en ...), else the Accept-Language entry with the highest q; English otherwise."""
    if query:
        return "zh" if query.lower().startswith("zh") else "en"
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        lang = tag.strip().lower()[:2]
        if lang in LANGS and weight > best_q:
            best, best_q = lang, weight
    return best


def qr_png_data_uri(url: str) -> str:
    """The QR code of `url` as a PNG data: URI (error correction M, 4-module quiet zone)."""
    return segno.make(url, error="m", micro=False).png_data_uri(scale=6, border=4)


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


_STYLE = """body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;max-width:42rem;
margin:1rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}h2{font-size:1.1rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:.2rem .5rem;text-align:left;vertical-align:top}
.bad{color:#b00;font-weight:bold}
.qr{float:right;text-align:center;font-size:.8rem}@media print{body{margin:0;max-width:none}a{color:inherit}}"""


def _page(lang: str, title: str, body: str) -> str:
    return (f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def _harvest_html(v: Mapping[str, Any], t: Mapping[str, str]) -> str:
    rows = []

    def row(label: str, value: str) -> None:
        rows.append(f"<tr><th>{escape(label)}</th><td>{value}</td></tr>")

    if "region" in v:
        row(t["region"], escape(v["region"] or ""))
    if "area_ha" in v:
        row(t["area"], f"{_num(v['area_ha'])} ha")
    if "crops" in v:
        row(t["crop"], escape(", ".join(v["crops"]) or t["none"]))
    if "sown" in v:
        row(t["sown"], escape(", ".join(v["sown"]) or t["none"]))
    if "harvested" in v:
        row(t["harvested"], escape(v["harvested"]))
    if "quantity_kg" in v:
        row(t["quantity"], f"{_num(v['quantity_kg'])} kg")
    if "seed_lots" in v:
        row(t["seed_lots"], escape(", ".join(v["seed_lots"]) or t["none"]))
    if "fertilisers" in v:
        row(t["fertilisers"], "<br>".join(escape(f"{f['date']} {f['product']} {_num(f['rate'])} {f['rate_unit']}")
                                          for f in v["fertilisers"]) or t["none"])
        sprays = []
        for s in v["sprays"]:
            line = escape(f"{s['date']} {s['product']} {_num(s['rate'])} {s['rate_unit']}")
            if s["phi_days"] is not None:
                ok = s["phi_met"]
                line += (f" ({escape(t['phi'])} {s['phi_days']} d, {_num(s['days_before_harvest'])} "
                         f"{escape(t['days_before'])}: <span class=\"{'' if ok else 'bad'}\">"
                         f"{escape(t['phi_met'] if ok else t['phi_not_met'])}</span>)")
            sprays.append(line)
        row(t["sprays"], "<br>".join(sprays) or t["none"])
    if "water" in v:
        w = v["water"]
        mm = "" if w["mm_max"] is None else (f", {_num(w['mm_min'])} mm" if w["mm_min"] == w["mm_max"]
                                             else f", {_num(w['mm_min'])}-{_num(w['mm_max'])} mm")
        row(t["water"], escape(f"{w['irrigations']} {t['irrigations']}, {_num(w['volume_l'])} l{mm}"))
    if "verified" in v:
        row(t["verified"], escape(t["verified_yes"]) if v["verified"] else
            f'<span class="bad">{escape(t["verified_no"])}</span>')
    if v.get("boundary") is not None:
        row(t["boundary"], f"<code>{escape(json.dumps(v['boundary'], separators=(',', ':')))}</code>")
    label = v["label"] or f"{t['field']} {v['n']}"
    return f"<h2>{escape(label)}</h2><table>{''.join(rows)}</table>"


def public_page(view: Mapping[str, Any], lang: str) -> str:
    """The public page of a published lot: what `view` (publish.public_view) holds, nothing else."""
    t = TEXT[lang]
    head = f"<h1>{escape(t['title'])} {escape(view['lot'])}</h1>"
    if "quantity_kg" in view:
        head += f"<p>{escape(t['quantity'])}: {_num(view['quantity_kg'])} kg</p>"
    if "verified" in view:
        head += (f"<p>{escape(t['verified'])}: " + (escape(t["verified_yes"]) if view["verified"] else
                 f'<span class="bad">{escape(t["verified_no"])}</span>') + "</p>")
    body = (head + "".join(_harvest_html(v, t) for v in view["harvests"])
            + f"<p><small>{escape(t['footer'])}</small></p>")
    return _page(lang, f"{t['title']} {view['lot']}", body)


def report_page(lot: Mapping[str, Any], full_view: Mapping[str, Any], public_url: str | None,
                items: list[str] | None, lang: str) -> str:
    """The printable report for the farm: everything of the lot (`full_view` has every item), its operations,
    and, when published, the QR code of `public_url` and which items the public page shows."""
    t = TEXT[lang]
    if public_url:
        qr = (f'<div class="qr"><img alt="QR" width="180" height="180" src="{qr_png_data_uri(public_url)}">'
              f'<br>{escape(t["scan"])}<br><a href="{escape(public_url)}">{escape(public_url)}</a></div>'
              f"<p>{escape(t['published_items'])}: {escape(', '.join(items or []))}</p>")
    else:
        qr = f"<p>{escape(t['not_published'])}</p>"
    ops = []
    for h, v in zip(lot["harvests"], full_view["harvests"], strict=True):
        lines = "".join(f"<tr><td>{escape(d)}</td><td>{escape(o['kind'])}</td><td>{escape(o['source'])}</td></tr>"
                        for o, d in ((o, _utc(o["occurred_ms"])) for o in h["operations"]))
        ops.append(_harvest_html(v, t) + f"<h3>{escape(t['operations'])}</h3><table><tr><th>{escape(t['date'])} (UTC)"
                   f"</th><th>{escape(t['kind'])}</th><th>{escape(t['source'])}</th></tr>{lines}</table>")
    body = (f"{qr}<h1>{escape(t['report'])} {escape(lot['lot'])}</h1>"
            f"<p>{escape(t['quantity'])}: {_num(lot['quantity_kg'])} kg</p>" + "".join(ops))
    return _page(lang, f"{t['report']} {lot['lot']}", body)
