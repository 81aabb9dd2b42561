"""Face alignment: a similarity transform from 5 landmarks onto an embedder's template."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .types import FloatArray, ImageArray

#: The widely used 5-point template of ArcFace/InsightFace for a 112x112 crop
#: (left eye, right eye, nose, left and right mouth corners).
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def scaled_template(size: int, face_fraction: float = 1.0, y_shift: float = 0.0) -> FloatArray:
    """ARCFACE_112 placed in a `size` x `size` crop.

    `face_fraction` < 1 shrinks the landmark constellation towards the centre
    (more margin around the face); `y_shift` moves it down, as a fraction of `size`.
    """
    centred = (ARCFACE_112 - 56.0) / 112.0
    pts = centred * face_fraction * size + size / 2.0
    pts[:, 1] += y_shift * size
    return pts.astype(np.float32)


def similarity_transform(src: npt.ArrayLike, dst: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src onto dst.

    Umeyama (1991). Returns the 2x3 matrix M with dst ~= M @ [x, y, 1].
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2 or s.shape[0] < 2:
        raise ValueError(f"need two matching (N>=2, 2) point sets, got {s.shape} and {d.shape}")
    mu_s, mu_d = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - mu_s, d - mu_d
    var_s = (sc**2).sum() / len(s)
    cov = dc.T @ sc / len(s)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(sig) @ sign) / var_s) if var_s > 0 else 1.0
    trans = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, trans[:, None]])


_MARGIN = 3


def warp_affine(image: ImageArray, matrix: npt.NDArray[np.float64], size: int) -> ImageArray:
    """Warp an RGB uint8 image with a 2x3 forward matrix into a size x size crop (bilinear)."""
    from PIL import Image

    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    inv = np.linalg.inv(full)
    # Only the region the crop samples goes to PIL, not the whole photo (a copy of
    # 9 MB per face on a 12 MP photo): the output corners mapped back, plus a margin
    # of _MARGIN px so that bilinear sampling never reaches the region's edge where
    # it is not the photo's edge. The result is the same, pixel for pixel.
    corners = inv[:2] @ np.array([[0, size, 0, size], [0, 0, size, size], [1, 1, 1, 1]])
    h, w = image.shape[:2]
    x0 = int(np.clip(np.floor(corners[0].min()) - _MARGIN, 0, w))
    y0 = int(np.clip(np.floor(corners[1].min()) - _MARGIN, 0, h))
    x1 = int(np.clip(np.ceil(corners[0].max()) + _MARGIN, x0, w))
    y1 = int(np.clip(np.ceil(corners[1].max()) + _MARGIN, y0, h))
    if x1 - x0 < 1 or y1 - y0 < 1:  # the crop lies wholly outside the photo
        return np.zeros((size, size, 3), dtype=np.uint8)
    inv = inv.copy()
    inv[0, 2] -= x0
    inv[1, 2] -= y0
    coeffs = tuple(float(c) for c in inv[:2].ravel())
    pil = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    out = pil.transform(
        (size, size), Image.Transform.AFFINE, data=coeffs, resample=Image.Resampling.BILINEAR
    )
    return np.asarray(out, dtype=np.uint8)


def align_face(
    image: ImageArray, landmarks: npt.ArrayLike, template: FloatArray, size: int
) -> ImageArray:
    """The aligned size x size crop of one face."""
    matrix = similarity_transform(np.asarray(landmarks, dtype=np.float64), template)
    return warp_affine(image, matrix, size)
