"""Object segmentation of one photo: the alpha channel when there is one, else GrabCut on a colour prior.

Without alpha, the background colour is estimated from a band along the image border; pixels far
from it (in Lab space, Otsu threshold) seed OpenCV's GrabCut, whose result is cleaned up
(morphological open/close, largest component, holes filled). Doubts (object cut by the border,
several objects, cluttered background, weak contrast, the two masks disagreeing) are reported in
:attr:`Segmentation.doubts`; an image with no separable object raises :class:`DataError`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from rlscope.errors import DataError

log = logging.getLogger(__name__)

MAX_SIDE = 512
"""Images are downscaled so that their longest side is at most this (segmentation cost is bounded)."""
MIN_CONTRAST = 14.0
"""Below this Lab distance (99th percentile) between object and background there is no object."""
MIN_AREA = 0.004
"""Masks smaller than this fraction of the image mean there is no object."""


@dataclasses.dataclass
class Segmentation:
    """The object's mask in one image.

    Attributes
    ----------
    mask : (H, W) bool
        Object pixels.
    rgb : (H, W, 3) uint8
        The (possibly downscaled) image.
    method : str
        alpha | grabcut | threshold.
    confidence : float
        0..1, lower when doubts were raised.
    doubts : list of str
        Why the segmentation may be wrong (empty when it looks fine).
    """

    mask: np.ndarray
    rgb: np.ndarray
    method: str
    confidence: float
    doubts: list[str] = dataclasses.field(default_factory=list)
    source: str = ""

    @property
    def doubtful(self) -> bool:
        return bool(self.doubts)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1), exclusive upper bounds."""
        ys, xs = np.nonzero(self.mask)
        return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1

    def mean_color(self) -> np.ndarray:
        """(3,) mean RGB in [0, 1] of the object pixels."""
        return self.rgb[self.mask].mean(axis=0) / 255.0


def load_image(path: Path | str) -> np.ndarray:
    """Read an image as (H, W, 3) or (H, W, 4) uint8, downscaled to at most ``MAX_SIDE`` pixels."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            im = im.convert("RGBA" if has_alpha else "RGB")
            if max(im.size) > MAX_SIDE:
                scale = MAX_SIDE / max(im.size)
                im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
            return np.asarray(im).copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image: {exc}", str(path)) from None


def segment_image(image: np.ndarray | Path | str, *, iterations: int = 4) -> Segmentation:
    """Segment the single object of a photo.

    Parameters
    ----------
    image : (H, W, 3|4) uint8 array or path
        RGB or RGBA. An alpha channel that is not fully opaque is used as the mask.
    iterations : int
        GrabCut iterations.
    """
    source = ""
    if not isinstance(image, np.ndarray):
        source = str(image)
        image = load_image(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 16:
        raise DataError(f"expected an RGB(A) image of at least 16x16 pixels, got shape {image.shape}", source or None)
    rgb = np.ascontiguousarray(image[..., :3])
    if image.shape[2] == 4 and image[..., 3].min() < 250:
        return _from_alpha(rgb, image[..., 3], source)
    return _from_colour(rgb, iterations, source)


def _from_alpha(rgb: np.ndarray, alpha: np.ndarray, source: str) -> Segmentation:
    mask = alpha >= 128
    if mask.mean() < MIN_AREA:
        raise DataError("no separable object: the alpha channel is (almost) fully transparent", source or None)
    mask, cleanup = _cleanup(mask, max_hole=0.002)
    doubts = _shape_doubts(mask) + cleanup
    partial = ((alpha > 16) & (alpha < 240)).sum() / max(1, mask.sum())
    if partial > 0.25:
        doubts.append(f"{partial:.0%} of the object's pixels are semi-transparent (soft matte)")
    return Segmentation(mask, rgb, "alpha", _confidence(doubts), doubts, source)


def _from_colour(rgb: np.ndarray, iterations: int, source: str) -> Segmentation:
    import cv2

    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    band = max(2, round(0.03 * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    bg = np.median(lab[border], axis=0)
    dist = np.linalg.norm(lab - bg, axis=2)  # (H, W)
    border_spread = float(np.percentile(dist[border], 75))  # robust to an object touching the border
    contrast = float(np.percentile(dist, 99))
    if contrast < MIN_CONTRAST or contrast < 2.0 * border_spread:
        raise DataError(
            f"no separable object: nothing stands out from the background colour (contrast {contrast:.1f}, "
            f"background spread {border_spread:.1f} in Lab units); give an image with alpha or a plainer background",
            source or None,
        )
    d8 = np.clip(dist / max(contrast, 1e-6) * 255, 0, 255).astype(np.uint8)
    thr, _ = cv2.threshold(d8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    thr = max(thr, 255 * max(border_spread * 1.5, 6.0) / contrast)
    prior = d8 > thr
    prior, prior_doubts = _cleanup(prior)
    if prior.mean() < MIN_AREA:
        raise DataError("no separable object: the object mask is empty after thresholding", source or None)

    gc = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    gc[prior] = cv2.GC_PR_FGD
    core = cv2.erode(prior.astype(np.uint8), np.ones((5, 5), np.uint8), iterations=2).astype(bool)
    gc[core] = cv2.GC_FGD
    gc[border & ~prior] = cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    method = "grabcut"
    try:
        cv2.setRNGSeed(0)
        cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
        mask = (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)
    except cv2.error as exc:  # e.g. a class with no samples
        log.warning("GrabCut failed (%s); using the thresholded mask", exc)
        mask, method = prior, "threshold"
    mask, cleanup = _cleanup(mask)
    doubts = _shape_doubts(mask) + list(dict.fromkeys(prior_doubts + cleanup))
    if mask.mean() < MIN_AREA:
        raise DataError("no separable object: GrabCut left an empty mask", source or None)
    iou = (mask & prior).sum() / max(1, (mask | prior).sum())
    if iou < 0.8:
        doubts.append(f"GrabCut and the colour threshold disagree (IoU {iou:.2f})")
    if border_spread > 0.35 * contrast:
        doubts.append(f"the background is not uniform (border spread {border_spread:.0f} vs contrast {contrast:.0f})")
    return Segmentation(mask, rgb, method, _confidence(doubts), doubts, source)


def _cleanup(mask: np.ndarray, max_hole: float = 0.02) -> tuple[np.ndarray, list[str]]:
    """Open/close, keep the largest component, fill holes smaller than ``max_hole`` of the object
    (larger ones, like a mug handle's, are real). Returns the mask and doubts found on the way."""
    import cv2

    doubts: list[str] = []
    m = mask.astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k, iterations=2)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, bool), doubts
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1]
    if len(order) > 1 and areas[order[1]] > 0.15 * areas[order[0]]:
        doubts.append(f"{int((areas > 0.15 * areas[order[0]]).sum())} separate objects; kept the largest")
    keep = (labels == order[0] + 1).astype(np.uint8)
    # fill holes: flood the background from a padded corner
    padded = np.pad(keep, 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    holes = (flood[1:-1, 1:-1] == 0).astype(np.uint8)
    out = keep.astype(bool)
    n_h, h_labels, h_stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    limit = max_hole * out.sum()
    for k in range(1, n_h):
        if h_stats[k, cv2.CC_STAT_AREA] <= limit:
            out |= h_labels == k
    return out, doubts


def _shape_doubts(mask: np.ndarray) -> list[str]:
    doubts = []
    frac = float(mask.mean())
    if frac > 0.9:
        doubts.append(f"the object fills {frac:.0%} of the image (is the background visible?)")
    elif frac < 0.01:
        doubts.append(f"the object covers only {frac:.1%} of the image")
    edges = {
        "top": mask[0].mean(),
        "bottom": mask[-1].mean(),
        "left": mask[:, 0].mean(),
        "right": mask[:, -1].mean(),
    }
    cut = [side for side, v in edges.items() if v > 0.02]
    if cut:
        doubts.append("the object touches the image border (" + ", ".join(cut) + "): it may be cut off")
    return doubts


def _confidence(doubts: list[str]) -> float:
    return float(max(0.05, 1.0 - 0.25 * len(doubts)))
