"""The trap-card counter (cloud/pests/counting.py) per card, beside scikit-image's and Pillow's raw rates
on the same photos in the same run.

Generated cards (tests/trap_cards.py: a yellow sticky card with its grid and a white pheromone liner,
glare, dust, blur, JPEG) of 200 x 150 mm at the test set's 5 px/mm (1000 x 750 px), with 0, 50 and 150
insects, are timed:

  count           count_card(rgb, spec): background, mask, grid out, watershed split, measure, clumps
  decode JPEG     Pillow decoding the card's JPEG: what the cloud does first with every trap photo
  raw label       skimage.measure.label alone (8-connectivity) of the card's dark pixels (under 0.8 of
                  its median brightness): the cheapest pass that finds objects at all
  raw regionprops label plus skimage.measure.regionprops with each object's area read: what any
                  counter that measures its objects pays

"count / label" is how many bare labelling passes one count costs. The counter's error on the same
cards is printed beside the time (|counted - true| / true over the cards), so a faster counter
cannot hide a worse one.

    .venv/bin/python bench/trap_counter.py [--counts 0,50,150]

With --accuracy it times nothing and reports the count error per condition instead
(tests/trap_cards.CONDITIONS: plain, touching, glare, dust, mixed): for each, cards of both kinds
with 25, 50, 100 and 150 insects, two of each (seeds 1 and 2; `--seeds 3,4` is a second card set
that no rule was tuned on), counted; the error is the sum of |counted - true| over the sum of true
insects, per card kind and both together, with the worst card, the lure's target moths on the
pheromone liners, and the count's CPU time per card (process time, count_card alone).

    .venv/bin/python bench/trap_counter.py --accuracy [--conditions plain,dust] [--seeds 3,4]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import measure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from furrow.cloud.pests.counting import CardSpec, count_card  # noqa: E402
from furrow.hil.farm.trap_card import CardKind  # noqa: E402
from tests import trap_cards  # noqa: E402


def per_call(fn: Callable[[], object]) -> float:
    """Seconds per call of fn, by timeit's autorange (calls adding up to at least 0.2 s)."""
    number, taken = timeit.Timer(fn).autorange()
    return taken / number


ACCURACY_COUNTS = (25, 50, 100, 150)


def accuracy(conditions: list[str], seeds: tuple[int, ...] = (1, 2)) -> None:
    """The count error per condition (see the module's docstring)."""
    target = trap_cards.CEW.card
    out = {}
    for condition in conditions:
        err: dict[str, int] = {}
        true: dict[str, int] = {}
        worst, target_err, target_true = 0.0, 0, 0
        cpu, cards = 0.0, 0
        for seed in seeds:
            rng = random.Random(f"{condition}-{seed}")
            for kind in CardKind:
                for n in ACCURACY_COUNTS:
                    card = trap_cards.condition_card(rng, kind, n, condition)
                    lure = kind is CardKind.WHITE_PHEROMONE
                    rgb = np.asarray(Image.open(io.BytesIO(card.jpeg)).convert("RGB"))
                    spec = CardSpec(trap_cards.PX_PER_MM, (target.min_mm, target.max_mm) if lure else None)
                    started = time.process_time()
                    found = count_card(rgb, spec)
                    cpu += time.process_time() - started
                    cards += 1
                    err[kind.value] = err.get(kind.value, 0) + abs(found.total - n)
                    true[kind.value] = true.get(kind.value, 0) + n
                    worst = max(worst, abs(found.total - n) / n)
                    if lure:
                        target_err += abs(found.target - card.target)
                        target_true += card.target
        row = {k: round(err[k] / true[k], 3) for k in err}
        row |= {"all": round(sum(err.values()) / sum(true.values()), 3), "worst_card": round(worst, 3),
                "target": round(target_err / target_true, 3), "cpu_s_per_card": round(cpu / cards, 3)}
        out[condition] = row
        print(f"{condition:<10} all {row['all']:6.1%}  yellow {row['yellow-sticky']:6.1%}  "
              f"pheromone {row['white-pheromone']:6.1%}  worst card {worst:6.1%}  target moths {row['target']:6.1%}"
              f"  cpu {cpu / cards:5.2f} s/card", flush=True)
    print(json.dumps({"seeds": list(seeds), **out}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="0,50,150", help="insects per card, comma-separated")
    ap.add_argument("--accuracy", action="store_true", help="the count error per condition, no timing")
    ap.add_argument("--conditions", default=",".join(trap_cards.CONDITIONS), help="with --accuracy: which")
    ap.add_argument("--seeds", default="1,2", help="with --accuracy: the card sets' seeds (1,2 tuned on; 3,4 held out)")
    args = ap.parse_args()
    if args.accuracy:
        accuracy(args.conditions.split(","), tuple(int(s) for s in args.seeds.split(",")))
        return
    rows, out = [], {}
    for kind in CardKind:
        for n in (int(c) for c in args.counts.split(",")):
            rng = random.Random(1000 + n)
            card = trap_cards.make_card(rng, kind, n, trap_cards.random_look(rng, kind))
            rgb = np.asarray(Image.open(io.BytesIO(card.jpeg)).convert("RGB"))
            target = trap_cards.CEW.card
            spec = CardSpec(trap_cards.PX_PER_MM, (target.min_mm, target.max_mm)
                            if kind is CardKind.WHITE_PHEROMONE else None)
            gray = rgb.mean(axis=2)
            mask = gray < 0.8 * np.median(gray)
            found = count_card(rgb, spec)
            count_s = per_call(lambda rgb=rgb, spec=spec: count_card(rgb, spec))
            decode_s = per_call(lambda data=card.jpeg: Image.open(io.BytesIO(data)).convert("RGB").load())
            label_s = per_call(lambda mask=mask: measure.label(mask, connectivity=2))
            props_s = per_call(lambda mask=mask: [r.area for r in measure.regionprops(
                measure.label(mask, connectivity=2))])
            name = f"{kind.value}_{n}"
            rows.append((name, rgb.shape, found.total, n, count_s, decode_s, label_s, props_s))
            out[name] = {"count_ms": round(count_s * 1000, 1), "decode_ms": round(decode_s * 1000, 1),
                         "raw_label_ms": round(label_s * 1000, 2), "raw_regionprops_ms": round(props_s * 1000, 2),
                         "count_over_label": round(count_s / label_s, 1), "counted": found.total, "true": n}

    print(f"{'card':<22}{'px':>11}{'true':>6}{'found':>7}{'count ms':>10}{'decode ms':>11}{'label ms':>10}"
          f"{'props ms':>10}{'count/label':>13}")
    for name, shape, total, n, c, d, lab, p in rows:
        print(f"{name:<22}{shape[1]:>6}x{shape[0]:<4}{n:>6}{total:>7}{c * 1000:>10.1f}{d * 1000:>11.1f}"
              f"{lab * 1000:>10.2f}{p * 1000:>10.2f}{c / lab:>13.1f}")
    true = sum(r[3] for r in rows)
    error = sum(abs(r[2] - r[3]) for r in rows) / true if true else 0.0
    mean_count = sum(r[4] for r in rows) / len(rows)
    print(f"error over these cards {error:.1%}; a card counted in {mean_count * 1000:.0f} ms on average: "
          f"a camera's daily trap photo is not a load, {3600 / mean_count:.0f} cards an hour on one core")
    out["error_share"] = round(error, 3)
    out["mean_count_ms"] = round(mean_count * 1000, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
