"""Species classifiers a farm can plug into the counter: the interface, and ONNX Runtime models.

Furrow ships no trained model: the counter judges target and non-target by size alone
(counting.py). A farm that has trained a species model on its own reviewed trap photos loads it
here and the counter asks it about each object it found; a confident answer decides whether the
object is the trap's target.

An ONNX model is run with ONNX Runtime, an optional dependency (``pip install 'furrow[species]'``).
Its contract: one input of shape (N, 3, H, W), float32 RGB in 0..1; one output (N, classes) of
scores (logits or probabilities: a softmax is taken when they do not already sum to 1); the
classes' species keys in order, given beside the model (``labels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Label:
    """A classifier's answer for one object: a species key (None: not an insect it knows) and how sure."""

    species: str | None
    confidence: float


class SpeciesClassifier(Protocol):
    """Anything that labels crops of a card photo (H x W x 3 uint8 RGB), one Label per crop."""

    name: str

    def classify(self, crops: Sequence[np.ndarray]) -> list[Label]: ...


class ClassifierUnavailable(RuntimeError):
    """The classifier cannot run here (ONNX Runtime is not installed, or the model will not load)."""


class OnnxClassifier:
    """A species model in an ONNX file (see the module docstring for its contract)."""

    def __init__(self, model: Path | bytes, labels: Sequence[str | None], *, input_px: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise ClassifierUnavailable("ONNX Runtime is not installed: pip install 'furrow[species]'") from None
        source = model if isinstance(model, bytes) else str(model)
        try:
            self._session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types per failure
            raise ClassifierUnavailable(f"the species model does not load: {e}"[:300]) from None
        inp = self._session.get_inputs()[0]
        shape = inp.shape
        if len(shape) != 4 or shape[1] != 3:
            raise ClassifierUnavailable(f"the model's input is {shape}, not (N, 3, H, W)")
        side = input_px or (shape[2] if isinstance(shape[2], int) else None)
        if side is None:
            raise ClassifierUnavailable("the model's input size is not fixed: give input_px")
        out = self._session.get_outputs()[0].shape
        if isinstance(out[-1], int) and out[-1] != len(labels):
            raise ClassifierUnavailable(f"the model gives {out[-1]} classes but {len(labels)} labels were given")
        self._input = inp.name
        self._side = int(side)
        self.labels = list(labels)
        self.name = f"onnx {Path(source).name if isinstance(source, str) else 'model'} ({len(labels)} classes)"

    def _tensor(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        batch = np.empty((len(crops), 3, self._side, self._side), np.float32)
        for i, crop in enumerate(crops):
            img = Image.fromarray(np.ascontiguousarray(crop[..., :3])).resize((self._side, self._side))
            batch[i] = np.asarray(img, np.float32).transpose(2, 0, 1) / 255.0
        return batch

    def classify(self, crops: Sequence[np.ndarray]) -> list[Label]:
        if not crops:
            return []
        scores = np.asarray(self._session.run(None, {self._input: self._tensor(crops)})[0], np.float64)
        if not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3) or (scores < 0).any():
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
        best = scores.argmax(axis=1)
        return [Label(self.labels[k], float(scores[i, k])) for i, k in enumerate(best)]
