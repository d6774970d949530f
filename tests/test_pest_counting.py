"""The trap-card counter on generated cards of known insects (tests/trap_cards.py): its count error
on the test set, and the parts of a card it must not count or must split."""

import io
import random
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from furrow.cloud.pests.counting import RIDER_MIN_MM2, CardSpec, count_card, notches, size_class
from furrow.hil.farm.trap_card import CardKind, Look, TrapCard, bycatch, moth, render_card
from tests.trap_cards import CEW, FOREWING_MM, PX_PER_MM, WINGSPAN_MM, card_set, condition_card

TARGET_MM = (CEW.card.min_mm, CEW.card.max_mm)


def pixels(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def photo(card: TrapCard, look: Look, seed: int = 0) -> np.ndarray:
    return pixels(render_card(card, PX_PER_MM, look, random.Random(seed)))


def test_count_error_on_the_generated_set_up_to_150_insects():
    """On 20 generated cards (0-150 insects, glare, dust, grid, blur, JPEG) the total count is within
    12% of the truth summed over the set, and the pheromone cards' target count too (docs/pests.md
    gives the error per condition, bench/trap_counter.py --accuracy)."""
    err = truth = target_err = target_truth = 0
    for card in card_set(1, per_count=1):
        lure = card.kind is CardKind.WHITE_PHEROMONE
        found = count_card(pixels(card.jpeg), CardSpec(px_per_mm=PX_PER_MM, target_mm=TARGET_MM if lure else None))
        err, truth = err + abs(found.total - card.total), truth + card.total
        if lure:
            target_err, target_truth = target_err + abs(found.target - card.target), target_truth + card.target
    assert err / truth < 0.12, (err, truth)
    assert target_err / target_truth < 0.12, (target_err, target_truth)


def test_a_bare_card_with_grid_and_glare_has_no_insects():
    """Grid lines, glare patches and uneven light on a yellow card are not insects."""
    card = TrapCard(CardKind.YELLOW_STICKY)
    found = count_card(photo(card, Look(glare=3, grid_mm=25.0, light_gradient=0.25)), CardSpec(PX_PER_MM))
    assert found.total == 0


@pytest.mark.parametrize("kind", list(CardKind))
def test_dust_is_not_counted(kind):
    """80 grey specks of dust (0.2-1.6 mm) on a bare card of either kind, with glare and uneven light, are not
    insects: even the darkest tenth of a speck is paler than any insect's (the counter found 2 to 4 specks
    on such a yellow card, and more on a white liner, when it judged an object by its mean shade)."""
    card = TrapCard(kind)
    look = Look(dust=80, glare=2, light_gradient=0.25, grid_mm=25.0 if kind is CardKind.YELLOW_STICKY else None)
    assert count_card(photo(card, look, seed=3), CardSpec(PX_PER_MM)).total == 0


def test_a_small_insect_under_glare_is_found():
    """An aphid in the middle of a glare patch is as pale on the photo as dust beside it; with the glare
    taken out (card_contrast) it is an insect and the dust is not."""
    rng = random.Random(8)
    aphid = replace(bycatch(rng, 0, 0), kind="small", length_mm=2.0, x_mm=100, y_mm=75, rgb=(60, 70, 40))
    card = TrapCard(CardKind.YELLOW_STICKY, insects=[aphid])
    img = photo(card, Look(dust=40, grid_mm=25.0), seed=5).astype(np.float32)
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    glow = 0.6 * np.exp(-((yy - 75 * PX_PER_MM) ** 2 + (xx - 100 * PX_PER_MM) ** 2) / (2 * (15 * PX_PER_MM) ** 2))
    img += (255 - img) * glow[..., None]  # the glue's glare, as render_card draws it, centred on the aphid
    found = count_card(np.clip(img, 0, 255).astype(np.uint8), CardSpec(PX_PER_MM))
    assert found.total == 1 and abs(found.insects[0].x / PX_PER_MM - 100) < 2


def test_two_touching_moths_are_two():
    """Two folded moths lying end to end, their outlines meeting, are split into two insects."""
    rng = random.Random(4)
    a = replace(moth(rng, 80, 75, FOREWING_MM, WINGSPAN_MM, spread=False), angle=0.0, length_mm=18)
    b = replace(a, x_mm=80 + 17.0)
    card = TrapCard(CardKind.WHITE_PHEROMONE, insects=[a, b])
    found = count_card(photo(card, Look()), CardSpec(PX_PER_MM, target_mm=TARGET_MM))
    assert (found.total, found.target) == (2, 2)


def test_bycatch_on_a_pheromone_card_is_non_target():
    """Aphids and flies on a pheromone liner are counted but are not the lure's moths."""
    rng = random.Random(5)
    card = TrapCard(CardKind.WHITE_PHEROMONE)
    card.insects = [moth(rng, 30 + 40 * k, 40, FOREWING_MM, WINGSPAN_MM, spread=False) for k in range(4)]
    card.insects += [replace(bycatch(rng, 0, 0), x_mm=20 + 20 * k, y_mm=110) for k in range(8)]
    found = count_card(photo(card, Look()), CardSpec(PX_PER_MM, target_mm=TARGET_MM))
    assert (found.target, found.non_target) == (4, 8)


def test_every_object_is_measured_and_outlined():
    """Each insect found has its length, size class, colour and an outline around its centre."""
    rng = random.Random(6)
    card = TrapCard(CardKind.WHITE_PHEROMONE, insects=[moth(rng, 100, 75, FOREWING_MM, WINGSPAN_MM, spread=False)])
    (insect,) = count_card(photo(card, Look()), CardSpec(PX_PER_MM, target_mm=TARGET_MM)).insects
    assert 14 <= insect.length_mm <= 22 and insect.size_class == size_class(insect.length_mm) == "large"
    xs, ys = [p[0] for p in insect.outline], [p[1] for p in insect.outline]
    assert min(xs) < insect.x < max(xs) and min(ys) < insect.y < max(ys)
    assert insect.colour[0] > insect.colour[2]  # brown: more red than blue


def test_bad_input_names_the_value():
    """A grey image or a non-positive resolution is refused with the value in the message."""
    with pytest.raises(ValueError, match=r"\(10, 10\)"):
        count_card(np.zeros((10, 10), np.uint8), CardSpec(PX_PER_MM))
    with pytest.raises(ValueError, match="px_per_mm must be positive, not 0"):
        CardSpec(px_per_mm=0)


def test_a_small_insect_against_a_moth_is_two():
    """An aphid lying against a folded moth's side (a yellow card, no lure), anywhere along it, leaves a notch
    either side of where they meet in an outline convex enough to pass for one insect (solidity 0.91-0.95):
    counted as two (furrow-card-2 counted one in all twelve)."""
    found = []
    for dy in (3.2, 3.6):
        for k in range(6):
            rng = random.Random(30 + k)
            m = replace(moth(rng, 40, 30, FOREWING_MM, WINGSPAN_MM, spread=False), angle=0.0, length_mm=18.0)
            aphid = replace(bycatch(rng, 0, 0), kind="small", length_mm=2.4, angle=1.2, x_mm=40 + 2.0 * (k - 2.5),
                            y_mm=30 + dy, rgb=(60, 70, 35))
            card = TrapCard(CardKind.YELLOW_STICKY, width_mm=80, height_mm=60, insects=[m, aphid])
            found.append(count_card(photo(card, Look(), seed=k), CardSpec(PX_PER_MM)).total)
    assert found == [2] * 12, found


def test_a_speck_on_a_spread_moth_smaller_than_any_insect_is_no_rider():
    """Moths with spread wings on a liner, blurred and JPEG-compressed: the specks darker than the wings that
    the compression leaves (0.3-0.5 mm2, furrow-card-2 counted them) are smaller than the smallest insect drawn
    (a 1.2 mm aphid, 0.63 mm2) and are not counted; all six moths are."""
    for seed in (3, 5, 7):
        rng = random.Random(seed)
        card = TrapCard(CardKind.WHITE_PHEROMONE)
        card.insects = [moth(rng, 35 + 65 * (k % 3), 40 + 70 * (k // 3), FOREWING_MM, WINGSPAN_MM, spread=True)
                        for k in range(6)]
        found = count_card(photo(card, Look(blur_px=0.8, jpeg_quality=70), seed=seed),
                           CardSpec(PX_PER_MM, target_mm=TARGET_MM))
        assert found.target == 6
        assert all(i.area_mm2 >= RIDER_MIN_MM2 for i in found.insects if not i.target), found.insects

def test_notches_are_where_two_outlines_meet():
    """notches(): an ellipse's pixelated outline has none; a disk against its side has two, one where each
    outline crosses the other (the inscribed circle of each gap with its hull 1.5 px or more)."""
    from skimage import draw, morphology

    ellipse = np.zeros((60, 100), bool)
    ellipse[draw.ellipse(30, 50, 10, 40)] = True
    assert notches(ellipse, morphology.convex_hull_image(ellipse), 1.5) == 0
    both = ellipse.copy()
    both[draw.disk((44, 50), 7, shape=both.shape)] = True
    assert notches(both, morphology.convex_hull_image(both), 1.5) == 2


SEED_1_BOUNDS = {"plain": 0.10, "touching": 0.18, "glare": 0.09, "dust": 0.09, "mixed": 0.09}
"""The count error each condition may reach on the accuracy bench's seed-1 cards before this test fails
(docs/pests.md, "Accuracy, measured": seed 1 measured 8.3, 16.5, 6.6, 7.1 and 6.9 % on 2026-12-07 with
furrow-card-3, about two points under these bounds; furrow-card-4 measured 7.7, 8.6, 4.3, 3.4 and 7.4 %)."""


@pytest.mark.full
@pytest.mark.parametrize("condition", list(SEED_1_BOUNDS))
def test_count_error_per_condition_on_the_bench_seed_1_cards(condition):
    """The bench's cards of one condition and seed 1 (bench/trap_counter.py --accuracy --seeds 1: both kinds,
    25, 50, 100 and 150 insects, drawn in that order from the same seeded generator) are counted within the
    condition's stated bound, summed over the eight cards. About 8 s of counting per condition: full tier; the
    fast tier's proof is test_count_error_on_the_generated_set_up_to_150_insects."""
    rng = random.Random(f"{condition}-1")
    err = truth = 0
    for kind in CardKind:
        for n in (25, 50, 100, 150):
            card = condition_card(rng, kind, n, condition)
            lure = kind is CardKind.WHITE_PHEROMONE
            found = count_card(pixels(card.jpeg), CardSpec(PX_PER_MM, TARGET_MM if lure else None))
            err, truth = err + abs(found.total - n), truth + n
    assert err / truth < SEED_1_BOUNDS[condition], (condition, err, truth)


@pytest.mark.full
def test_touching_insects_are_counted_within_10_percent_on_held_out_cards():
    """The issue's target where insects lie against each other: the bench's touching cards of seed 3 (a set no
    rule of the counter was chosen on: bench/trap_counter.py --accuracy --conditions touching --seeds 3; both
    kinds, 25-150 insects, 30% of them landing against another) are counted within 10% of the truth, summed
    over the eight cards (furrow-card-4 measured 8.0% on 2026-12-07; furrow-card-3 measured 14.0% over the
    touching cards of seeds 3 and 4). Full tier, about 4 s of counting."""
    rng = random.Random("touching-3")
    err = truth = 0
    for kind in CardKind:
        for n in (25, 50, 100, 150):
            card = condition_card(rng, kind, n, "touching")
            lure = kind is CardKind.WHITE_PHEROMONE
            found = count_card(pixels(card.jpeg), CardSpec(PX_PER_MM, TARGET_MM if lure else None))
            err, truth = err + abs(found.total - n), truth + n
    assert err / truth < 0.10, (err, truth)
