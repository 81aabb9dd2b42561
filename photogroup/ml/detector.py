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
  (With the networks compiled, as `_Stages` runs them, the same level fails
  inside TensorFlow's convolution instead; still no face.)
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

import logging
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


def _nms(
    boxes: np.ndarray, threshold: float, method: str = "union", initial_sort: bool = True
) -> np.ndarray:
    """mtcnn's ``smart_nms_from_bboxes`` for the rows of one image, with the same result.

    mtcnn's rule (not the usual greedy NMS): a box is dropped when any box before it
    (by score, when sorted) overlaps it by more than `threshold`, whether or not that
    box was itself dropped. mtcnn computes the IoU of every pair, an N x N matrix
    (N is a few thousand on a 1000 px photo); here only pairs whose boxes overlap
    along x are computed, with the same arithmetic, so the same boxes are kept."""
    from mtcnn.utils.bboxes import sort_by_scores

    if initial_sort:
        boxes = sort_by_scores(boxes, scores=boxes[:, 5], ascending=False)
    if len(boxes) == 0:
        return np.empty((0, 6))
    return boxes[_nms_keep(boxes[:, 1:5], threshold, method)]


def _nms_keep(b: np.ndarray, threshold: float, method: str) -> np.ndarray:
    """Indexes of the boxes [x1, y1, x2, y2] that no earlier box overlaps by more
    than threshold (IoU over the union, or over the smaller area with "min")."""
    n = len(b)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    order = np.argsort(b[:, 0], kind="stable")
    left = b[order, 0]
    # Box order[p] can only intersect boxes order[q], q > p, that start left of its end.
    end = np.searchsorted(left, b[order, 2], side="left")
    counts = np.maximum(end - np.arange(n) - 1, 0)
    total = int(counts.sum())
    if total == 0:
        return np.arange(n)
    p = np.repeat(np.arange(n), counts)
    q = p + 1 + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    i, j = order[p], order[q]
    # The IoU as mtcnn's bboxes.iou computes it, pair by pair.
    height = np.maximum(0, np.minimum(b[i, 2], b[j, 2]) - np.maximum(b[i, 0], b[j, 0]))
    width = np.maximum(0, np.minimum(b[i, 3], b[j, 3]) - np.maximum(b[i, 1], b[j, 1]))
    inter = height * width
    if method == "union":
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = inter / (area[i] + area[j] - inter)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap = inter / np.minimum(area[i], area[j])
    dropped = np.zeros(n, dtype=bool)
    dropped[np.maximum(i, j)[overlap > threshold]] = True
    return np.flatnonzero(~dropped)


class _RetracingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


def _quiet_retracing_warning() -> None:
    """TensorFlow warns of "excessive retracing" when several of the pyramid functions
    are traced close together (photos of different sizes at the start of a scan).
    Their number is bounded by design (see `_Stages._pyramid_fn`): the warning is
    dropped, every other TensorFlow message is kept."""
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, _RetracingFilter) for f in tf_logger.filters):
        tf_logger.addFilter(_RetracingFilter())


class _Stages:
    """mtcnn 1.0.0's ``detect_faces`` for one image, with its own networks, weights and
    box arithmetic, but with the TensorFlow work in three compiled `tf.function`s:

    * the whole image pyramid (normalise, mtcnn's AREA resize per level, PNet), traced
      once per number of levels;
    * RNet with its ``crop_and_resize`` patches, and ONet with its patches, each
      traced once for any number of boxes.

    mtcnn runs each layer, each resize and each patch extraction eagerly from Python,
    converting its float64 image to a tensor again at every step; on a 1024 px photo
    that overhead was a third of detection. Its NMS, an N x N IoU matrix per call,
    is `_nms` here (same rule, overlapping pairs only): 29 -> 7 ms per 12 MP photo.
    Results equal mtcnn's own ``detect_faces`` to the last bit
    (tests/ml/test_detector.py compares them on real photos)."""

    def __init__(self, mtcnn: Any) -> None:
        import tensorflow as tf

        self._tf = tf
        self.mtcnn = mtcnn  # the package's own object: its eager detect_faces is the reference
        self.device = mtcnn._device
        pnet, rnet, onet = (stage._model for stage in mtcnn.stages)
        self._pnet = pnet
        self._pyramids: dict[int, Any] = {}
        _quiet_retracing_warning()
        self._rnet_fn = self._patch_fn(rnet, 24)
        self._onet_fn = self._patch_fn(onet, 48)

    def _patch_fn(self, model: Any, size: int) -> Any:
        tf = self._tf

        def run(image: Any, boxes: Any, index: Any) -> Any:
            patches = tf.image.crop_and_resize(image, boxes, index, (size, size))
            return model.call(patches)

        return tf.function(
            run,
            input_signature=[
                tf.TensorSpec([None, None, None, 3], tf.float64),
                tf.TensorSpec([None, 4], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ],
        )

    def _pyramid_fn(self, levels: int) -> Any:
        """The pyramid function for this number of levels (one per number: about 10
        for 1000 px photos, fewer for small ones; all the levels in one call run
        15 % faster than one call per level, which TensorFlow can run in parallel)."""
        fn = self._pyramids.get(levels)
        if fn is None:
            tf = self._tf
            pnet = self._pnet

            def run(image: Any, sizes: Any) -> Any:
                # mtcnn: (uint8 image - 127.5) / 128 in float64 numpy, then per level
                # tf.image.resize(..., AREA) to the float size truncated to integers.
                normalized = (tf.cast(image, tf.float64)[None] - 127.5) / 128.0
                outputs = []
                for level in range(levels):
                    scaled = tf.image.resize(normalized, sizes[level], method="area")
                    outputs.append(pnet.call(scaled))
                return normalized, outputs

            fn = tf.function(
                run,
                input_signature=[
                    tf.TensorSpec([None, None, 3], tf.uint8),
                    tf.TensorSpec([levels, 2], tf.int32),
                ],
            )
            self._pyramids[levels] = fn
        return fn

    def detect(self, rgb: ImageArray, min_face_size: int) -> np.ndarray:
        """Rows as mtcnn's numpy output with box_format="xyxy" (see _X1 ... _LY)."""
        with self._tf.device(self.device):
            try:
                return self._detect(rgb, min_face_size)
            except self._tf.errors.InvalidArgumentError:
                # mtcnn's own answer to a failing stage ("no faces found"): see the
                # module doc on pyramids above 20 px.
                return np.empty((0, 16))

    def _detect(self, rgb: ImageArray, min_face_size: int) -> np.ndarray:
        from mtcnn.utils.bboxes import (
            adjust_bboxes,
            generate_bounding_box,
            limit_bboxes,
            pick_matches,
            replace_confidence,
            resize_to_square,
            upscale_bboxes,
        )
        from mtcnn.utils.images import build_scale_pyramid
        from mtcnn.utils.landmarks import adjust_landmarks

        height, width = rgb.shape[:2]
        none = np.empty((0, 16))
        # Stage 1, PNet over the pyramid (mtcnn's StagePNet defaults).
        scales = build_scale_pyramid(width, height, min_face_size=min_face_size, scale_factor=0.709)
        sizes = (np.asarray([height, width], dtype=np.float64) * scales[:, None]).astype(np.int32)
        normalized, outputs = self._pyramid_fn(len(scales))(rgb, sizes)
        per_level = []
        for (reg, cls), scale in zip(outputs, scales, strict=True):
            boxes = generate_bounding_box(reg, cls, 0.6)
            boxes = upscale_bboxes(boxes, np.asarray([scale]))
            per_level.append(_nms(boxes, 0.5, method="union", initial_sort=False))
        boxes = np.concatenate(per_level, axis=0) if per_level else np.empty((0, 6))
        boxes = _nms(boxes, 0.7, method="union", initial_sort=True)
        boxes = resize_to_square(boxes)
        if len(boxes) == 0:
            return none
        # Stage 2, RNet.
        offsets, scores = self._rnet_fn(normalized, *self._patch_boxes(boxes, height, width))
        boxes = adjust_bboxes(replace_confidence(boxes, scores), offsets)
        boxes = pick_matches(boxes, score_threshold=0.7)
        boxes = _nms(boxes, 0.7, method="union", initial_sort=True)
        boxes = resize_to_square(boxes)
        if len(boxes) == 0:
            return none
        # Stage 3, ONet.
        offsets, landmarks, scores = self._onet_fn(
            normalized, *self._patch_boxes(boxes, height, width)
        )
        landmarks = adjust_landmarks(landmarks, boxes)
        boxes = adjust_bboxes(replace_confidence(boxes, scores), offsets)
        boxes = np.concatenate([boxes, landmarks], axis=-1)
        boxes = pick_matches(boxes, scores_column=5, score_threshold=0.8)
        boxes = _nms(boxes, 0.7, method="min", initial_sort=True)
        if len(boxes) == 0:
            return none
        # mtcnn's post-processing of one unpadded image, fit_to_image=True.
        return limit_bboxes(boxes, np.asarray([[height, width, 3]]), limit_landmarks=False)

    @staticmethod
    def _patch_boxes(boxes: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """mtcnn's extract_patches: [y1, x1, y2, x2] over the image size, and image indexes."""
        coords = boxes[:, [2, 1, 4, 3]] / np.asarray([[height, width, height, width]])
        return coords.astype(np.float32), boxes[:, 0].astype(np.int32)


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
        self._stages: _Stages | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Build the three networks now (otherwise done by the first `detect`)."""
        self._model()

    def _model(self) -> _Stages:
        with self._lock:
            if self._stages is None:
                try:
                    from mtcnn import MTCNN

                    mtcnn = MTCNN(stages="face_and_landmarks_detection", device=self.device)
                    self._stages = _Stages(mtcnn)
                except Exception as exc:  # ImportError, weights, TensorFlow device errors
                    raise ModelError(
                        f"Cannot build the MTCNN detector on device {self.device!r}: "
                        f"{type(exc).__name__}: {exc}. Check that mtcnn 1.0.0 and "
                        "TensorFlow are installed (pip install 'mtcnn==1.0.0')."
                    ) from exc
            return self._stages

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
            rows = model.detect(rgb, self.mtcnn_min_face_size)
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise RuntimeError(
                f"MTCNN failed on image {index} ({width}x{height} px): "
                f"{type(exc).__name__}: {first_line}"
            ) from exc
        return detections_from_rows(np.asarray(rows))
