"""The species classifier interface: an ONNX model run by ONNX Runtime labels the counter's objects,
and a confident label decides the target. The model is a tiny one built here (Furrow ships none)."""

import random

import numpy as np
import pytest
from onnx import TensorProto, helper

from furrow.cloud.pests.classifier import ClassifierUnavailable, Label, OnnxClassifier
from furrow.cloud.pests.counting import CardSpec, count_card
from furrow.hil.farm.trap_card import CardInsect, CardKind, Look, TrapCard, moth
from tests.test_pest_counting import FOREWING_MM, PX_PER_MM, WINGSPAN_MM, photo


def redness_model(side: int = 8) -> bytes:
    """Two classes from the mean colour of the crop: score 'helicoverpa-zea' = 100 * (mean red - mean blue),
    'other' = 6: brown moths score high, grey flies low."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, side, side])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    nodes = [
        helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0),  # (N, 3)
        helper.make_node("MatMul", ["m", "w"], ["s"]),
        helper.make_node("Add", ["s", "b"], ["y"]),
    ]
    inits = [helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]),
             helper.make_tensor("w", TensorProto.FLOAT, [3, 2], [100, 0, 0, 0, -100, 0]),
             helper.make_tensor("b", TensorProto.FLOAT, [2], [0, 6])]
    graph = helper.make_graph(nodes, "redness", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]).SerializeToString()


def test_onnx_model_labels_crops_with_softmax_confidence():
    """A brown crop is the moth with confidence near 1, a grey one 'other'."""
    clf = OnnxClassifier(redness_model(), ["helicoverpa-zea", "other"])
    brown = np.full((12, 20, 3), (130, 90, 40), np.uint8)
    grey = np.full((12, 20, 3), (60, 60, 65), np.uint8)
    moth_label, other_label = clf.classify([brown, grey])
    assert moth_label.species == "helicoverpa-zea" and moth_label.confidence > 0.99
    assert other_label == Label("other", pytest.approx(other_label.confidence)) and other_label.confidence > 0.9


def test_a_confident_label_decides_the_target_not_the_size():
    """With no size range for the target, the classifier alone tells the moths from the flies."""
    rng = random.Random(7)
    card = TrapCard(CardKind.WHITE_PHEROMONE)
    card.insects = [moth(rng, 30 + 45 * k, 40, FOREWING_MM, WINGSPAN_MM, spread=False) for k in range(4)]
    card.insects += [CardInsect(20 + 30 * k, 110, 7.0, "fly", 0.5 * k, (40, 40, 45)) for k in range(5)]
    clf = OnnxClassifier(redness_model(), ["helicoverpa-zea", "other"])
    found = count_card(photo(card, Look()), CardSpec(PX_PER_MM), clf, "helicoverpa-zea")
    assert (found.target, found.total) == (4, 9)
    assert all(i.label is not None for i in found.insects)


def test_a_model_that_does_not_fit_its_labels_is_refused():
    """Three labels for a two-class model, or bytes that are no model, are refused saying why."""
    with pytest.raises(ClassifierUnavailable, match="gives 2 classes but 3 labels"):
        OnnxClassifier(redness_model(), ["a", "b", "c"])
    with pytest.raises(ClassifierUnavailable, match="does not load"):
        OnnxClassifier(b"not a model", ["a"])
