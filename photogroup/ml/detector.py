"""The MTCNN face detector (package ``mtcnn`` 1.0.0, TensorFlow), behind `Detector`.

Measured facts about mtcnn 1.0.0 that shape this adapter (bench/detection.py,
tests/ml/test_detector.py):

* Its ``min_face_size`` must stay at or below 20. Its image pyramid counts its
  levels as if it started at scale 1.0 but starts at ``12 / min_face_size``, so
  above 20 px its last level can be smaller than PNet's 12x12 window: from 29 px
  up for every image size, from 21 to 28 px for some. The failure is either
  a Keras ``ValueError`` ("convolution ... resulted in an empty output") or,
  swallowed inside mtcnn, an empty result: with ``min_face_size=40``, 0 of 200
  real photos got a face (109 raised, 91 returned []). The product's minimum
  face size is therefore applied after detection
  (`photogroup.core.detect.filter_detections`); mtcnn keeps its default, 20 px.
  (With the networks compiled by `_Compiled` the same level fails inside
  TensorFlow's convolution instead; still no face.)
* A list of images in one call is not a batch in the usual sense: mtcnn pads all
  images to the largest, runs every image through the largest image's pyramid
  and, when an image before another has no face, shifts the other's boxes by the
  wrong padding. On 30 photos of mixed sizes (five_celebs + group_photos) one
  call took 7x the time of a loop (160 s against 23 s; 130 against 14 CPU-s) and
  only 1 photo got the loop's result: 4 got another number of faces, 25 moved
  boxes (by 53 px in the median, 850 px at most). On 30 photos of one size it
  was about 2x slower and still moved some boxes by up to 8 px. So images are
  detected one at a time.
* The JSON output rounds boxes and landmarks to integers; the numpy output keeps
  floats and is what is used here.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..core.errors import ModelError
from ..core.types import LANDMARK_NAMES, Detection, ImageArray

#: PNet's window: an image with a side below this cannot hold a detectable face.
MIN_IMAGE_SIDE = 12

#: mtcnn's own default; anything above 20 breaks mtcnn 1.0.0 (see the module doc).
MTCNN_MIN_FACE_SIZE = 20

# Columns of mtcnn's numpy output row (box_format="xyxy"): image index, x1, y1, x2,
# y2, confidence, then the five landmark x and the five landmark y, each in the
# order left eye, right eye, nose, left mouth corner, right mouth corner, where
# "left" is the left of the picture (checked on real photos: left_eye.x < right_eye.x).
_X1, _Y1, _X2, _Y2, _SCORE = 1, 2, 3, 4, 5
_LX = slice(6, 11)
_LY = slice(11, 16)
assert LANDMARK_NAMES == ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def as_rgb(image: np.ndarray) -> ImageArray:
    """(H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA uint8 -> (H, W, 3) RGB uint8.

    The alpha channel is dropped (as PIL's convert("RGB") does)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(
            f"images must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {arr.shape}"
        )
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def detections_from_rows(rows: np.ndarray) -> list[Detection]:
    """mtcnn 1.0.0 numpy output rows (xyxy, with landmarks) -> Detections, as floats."""
    out: list[Detection] = []
    if rows.ndim != 2 or rows.shape[0] == 0:
        return out
    for row in np.asarray(rows, dtype=np.float64):
        x1, y1, x2, y2 = (float(v) for v in row[[_X1, _Y1, _X2, _Y2]])
        landmarks = tuple((float(x), float(y)) for x, y in zip(row[_LX], row[_LY], strict=True))
        out.append(Detection((x1, y1, x2 - x1, y2 - y1), landmarks, float(row[_SCORE])))
    return out


class _Compiled:
    """One of mtcnn's networks (PNet, RNet, ONet) run as a single `tf.function` traced
    once for any batch and image size, instead of layer by layer in eager mode: the
    same operations and results (boxes identical to the last bit on 36 real photos),
    3.7x faster on web-size photos, where Python overhead dominated."""

    def __init__(self, model: Any) -> None:
        import tensorflow as tf

        self.model = model
        self._tf = tf
        self._fn = tf.function(
            model.call,
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
            reduce_retracing=True,
        )

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self._fn(self._tf.convert_to_tensor(inputs, self._tf.float32))


class MTCNNDetector:
    """`Detector` over mtcnn 1.0.0. Cheap to construct; the model is built on first detect.

    ``detect`` returns every face that passes mtcnn's own stage thresholds
    (0.6 / 0.7 / 0.8), with boxes [x, y, w, h] and the 5 landmarks (order of
    LANDMARK_NAMES) as floats in the pixels of each given image. Grey and RGBA
    images are converted; an image with a side below 12 px gets [] without
    calling mtcnn.

    Errors: an image of the wrong dtype or shape raises ValueError; a failure
    inside mtcnn on one image raises RuntimeError naming that image's index and
    size (the results of the other images of that call are lost, so the pipeline
    calls with one photo at a time and records the error against that photo); a
    model that cannot be built raises ModelError.
    """

    id = "mtcnn-1.0.0"

    def __init__(
        self, device: str = "CPU:0", *, mtcnn_min_face_size: int = MTCNN_MIN_FACE_SIZE
    ) -> None:
        """`mtcnn_min_face_size` is mtcnn's own pyramid start (for measurements only):
        between 8 and 20; below 20 it finds smaller faces, slower, and changes `id`."""
        if not 8 <= mtcnn_min_face_size <= MTCNN_MIN_FACE_SIZE:
            raise ValueError(
                f"mtcnn_min_face_size must lie between 8 and {MTCNN_MIN_FACE_SIZE} "
                f"(mtcnn 1.0.0 breaks above 20; below 8 its pyramid gets huge), got {mtcnn_min_face_size}"
            )
        self.device = device
        self.mtcnn_min_face_size = mtcnn_min_face_size
        if mtcnn_min_face_size != MTCNN_MIN_FACE_SIZE:
            self.id = f"mtcnn-1.0.0-mfs{mtcnn_min_face_size}"
        self._mtcnn: Any = None
        self._lock = threading.Lock()

    def _model(self) -> Any:
        with self._lock:
            if self._mtcnn is None:
                try:
                    from mtcnn import MTCNN

                    self._mtcnn = MTCNN(stages="face_and_landmarks_detection", device=self.device)
                    for stage in self._mtcnn.stages:
                        stage._model = _Compiled(stage._model)
                except Exception as exc:  # ImportError, weights, TensorFlow device errors
                    raise ModelError(
                        f"Cannot build the MTCNN detector on device {self.device!r}: "
                        f"{type(exc).__name__}: {exc}. Check that mtcnn 1.0.0 and "
                        "TensorFlow are installed (pip install 'mtcnn==1.0.0')."
                    ) from exc
            return self._mtcnn

    def detect(self, images: list[ImageArray]) -> list[list[Detection]]:
        """RGB uint8 images -> for each, all its detections (see the class doc)."""
        return [self._detect_one(index, image) for index, image in enumerate(images)]

    def _detect_one(self, index: int, image: ImageArray) -> list[Detection]:
        rgb = as_rgb(image)
        height, width = rgb.shape[:2]
        if min(height, width) < MIN_IMAGE_SIDE:
            return []
        model = self._model()
        try:
            rows = model.detect_faces(
                rgb,
                box_format="xyxy",
                output_type="numpy",
                min_face_size=self.mtcnn_min_face_size,
            )
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RuntimeError(
                f"MTCNN failed on image {index} ({width}x{height} px): "
                f"{type(exc).__name__}: {first_line}"
            ) from exc
        return detections_from_rows(np.asarray(rows))
