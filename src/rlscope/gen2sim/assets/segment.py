"""Object segmentation of one photo: the alpha channel when there is one, else GrabCut on a prior.

* A plain backdrop: the background colour is estimated from a band along the image border; pixels far
  from it (in Lab space, Otsu threshold) seed OpenCV's GrabCut (method ``grabcut``).
* An ordinary scene (a cup on a table, a wall behind): the border's colours are clustered and every
  pixel's distance to the nearest cluster, weighted by a centre prior, is a saliency map; its largest
  salient region seeds GrabCut inside that region's box, with the image border held as background
  (method ``scene``). What the object stands on keeps with it when it stands out from the table (a cup
  keeps its saucer); the table, which reaches the border, does not.
* Guided: ``box`` (x0, y0, x1, y1) initialises GrabCut with that rectangle; ``point`` (x, y) marks the
  object under it and takes the salient region around it (method ``box`` / ``point``).

The result is cleaned up (morphological open/close, largest component, holes filled). Doubts (object
cut by the border, several similar regions, an outline along weak edges, weak contrast, the priors
disagreeing) are reported in :attr:`Segmentation.doubts`; an image with no separable object raises
:class:`DataError`. :func:`overlay` draws a mask over its photo, for users to check the cut-out.

Other segmenters (learned ones: SAM, rembg, given weights by path) plug in through :data:`SEGMENTERS`
(``module:object`` accepted), each a callable ``(rgb, box, point) -> Segmentation``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from rlscope.errors import DataError
from rlscope.registry import Registry

log = logging.getLogger(__name__)

MAX_SIDE = 512
"""Images are downscaled so that their longest side is at most this (segmentation cost is bounded)."""
MIN_CONTRAST = 14.0
"""Below this Lab distance (99th percentile) between object and background there is no object."""
MIN_AREA = 0.004
"""Masks smaller than this fraction of the image mean there is no object."""
MIN_SEPARATION = 6.0
"""Below this Lab distance between an ordinary photo's cut-out and its surroundings there is no object."""
MIN_EDGE_RATIO = 3.0
"""An outline whose gradient is below this multiple of the photo's mean gradient cuts through texture."""


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
        alpha | grabcut | threshold | scene | box | point (or a registered segmenter's name).
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
    guided: bool = False
    """The user gave a box or a point."""

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


def load_image(path: Path | str, with_scale: bool = False):
    """Read an image as (H, W, 3) or (H, W, 4) uint8, downscaled to at most ``MAX_SIDE`` pixels (with
    ``with_scale``: and the factor applied)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            im = im.convert("RGBA" if has_alpha else "RGB")
            scale = 1.0
            if max(im.size) > MAX_SIDE:
                scale = MAX_SIDE / max(im.size)
                im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
            arr = np.asarray(im).copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"cannot read image: {exc}", str(path)) from None
    if arr.size == 0:
        raise DataError("the image is empty (0 pixels)", str(path))
    return (arr, scale) if with_scale else arr


GUIDE_HINT = "guide it with --box x0,y0,x1,y1 (pixels of the photo) or --point x,y"


class Segmenter(Protocol):
    """Finds the object in an RGB photo: ``(rgb (H, W, 3) uint8, box, point) -> Segmentation``, with ``box``
    (x0, y0, x1, y1) and ``point`` (x, y) in the photo's pixels (None when the user gave none)."""

    def __call__(self, rgb: np.ndarray, box: tuple[int, int, int, int] | None,
                 point: tuple[int, int] | None) -> Segmentation: ...


SEGMENTERS: Registry[Segmenter] = Registry("segmenter")
"""Extra segmenters by name (or ``module:object``); the built-in one, ``grabcut``, is :func:`segment_image` itself."""


def segment_image(image: np.ndarray | Path | str, *, box: tuple[int, int, int, int] | None = None,
                  point: tuple[int, int] | None = None, iterations: int = 4, segmenter: str = "grabcut") -> Segmentation:
    """Segment the single object of a photo.

    Parameters
    ----------
    image : (H, W, 3|4) uint8 array or path
        RGB or RGBA. An alpha channel that is not fully opaque is used as the mask (unless guided).
    box : (x0, y0, x1, y1) or None
        The object's box in the photo's pixels (before any downscaling).
    point : (x, y) or None
        A pixel of the object.
    iterations : int
        GrabCut iterations.
    segmenter : str
        ``grabcut`` or a name of :data:`SEGMENTERS` / ``module:object``.
    """
    source = ""
    scale = 1.0
    if not isinstance(image, np.ndarray):
        source = str(image)
        image, scale = load_image(image, with_scale=True)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or min(image.shape[:2]) < 16:
        raise DataError(f"expected an RGB(A) image of at least 16x16 pixels, got shape {image.shape}", source or None)
    rgb = np.ascontiguousarray(image[..., :3])
    box, point = _scaled_guides(rgb, box, point, scale, source)
    if segmenter != "grabcut":
        seg = SEGMENTERS.get(segmenter)(rgb, box, point)
        seg.source = seg.source or source
        return seg
    if box is not None or point is not None:
        return _guided(rgb, box, point, iterations, source)
    if image.shape[2] == 4 and image[..., 3].min() < 250:
        return _from_alpha(rgb, image[..., 3], source)
    try:
        plain = _from_colour(rgb, iterations, source)
    except DataError as exc:
        if "background spread" not in str(exc):
            raise
        return _from_scene(rgb, iterations, source)  # not a plain backdrop: an ordinary scene
    if not any("not uniform" in d for d in plain.doubts):
        return plain
    try:  # a busy background: the scene method, unless it doubts more
        scene = _from_scene(rgb, iterations, source)
    except DataError:
        return plain
    return scene if len(scene.doubts) <= len(plain.doubts) else plain


def _scaled_guides(rgb, box, point, scale: float, source: str):
    """``box`` / ``point`` given in the photo's pixels, in the (downscaled) image's, checked against its size."""
    h, w = rgb.shape[:2]
    if box is not None:
        x0, y0, x1, y1 = (round(v * scale) for v in box)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 4 or y1 - y0 < 4:
            raise DataError(f"--box {','.join(map(str, box))}: expected x0,y0,x1,y1 with x0 < x1 and y0 < y1 inside the "
                            f"{round(w / scale)}x{round(h / scale)} photo", source or None)
        box = (x0, y0, x1, y1)
    if point is not None:
        x, y = (round(v * scale) for v in point)
        if not (0 <= x < w and 0 <= y < h):
            raise DataError(f"--point {point[0]},{point[1]}: outside the {round(w / scale)}x{round(h / scale)} photo",
                            source or None)
        point = (x, y)
    return box, point


def overlay(seg: Segmentation) -> np.ndarray:
    """The photo with everything but the object dimmed and the object's outline drawn: (H, W, 3) uint8."""
    import cv2

    out = seg.rgb.copy()
    out[~seg.mask] = (out[~seg.mask] * 0.35).astype(np.uint8)
    contours, _ = cv2.findContours(seg.mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 64, 0), max(1, round(min(out.shape[:2]) / 200)))
    return out


def saliency(rgb: np.ndarray, clusters: int = 6) -> np.ndarray:
    """(H, W) float: Lab distance of each pixel to the nearest of ``clusters`` colours of the image's border
    band (k-means), blurred and weighted by a Gaussian centre prior."""
    import cv2

    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    band = max(2, round(0.04 * min(h, w)))
    border = np.zeros((h, w), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    cv2.setRNGSeed(0)
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, _, centres = cv2.kmeans(lab[border].reshape(-1, 3), clusters, None, crit, 3, cv2.KMEANS_PP_CENTERS)
    dist = np.min(np.linalg.norm(lab[:, :, None, :] - centres[None, None], axis=3), axis=2)
    dist = cv2.GaussianBlur(dist, (0, 0), 3)
    yy, xx = np.mgrid[:h, :w]
    prior = np.exp(-(((xx - w / 2) / (0.35 * w)) ** 2 + ((yy - h / 2) / (0.35 * h)) ** 2) / 2)
    return dist * prior


def _grabcut(rgb: np.ndarray, gc: np.ndarray, iterations: int) -> np.ndarray:
    import cv2

    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)


def _salient_regions(sal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Otsu-thresholded saliency: (labels (H, W) int, areas (n,) of regions 1..n)."""
    import cv2

    s8 = np.clip(sal / max(float(np.percentile(sal, 99.5)), 1e-6) * 255, 0, 255).astype(np.uint8)
    _, seed = cv2.threshold(s8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, labels, stats, _ = cv2.connectedComponentsWithStats((seed > 0).astype(np.uint8))
    return labels, stats[1:, cv2.CC_STAT_AREA]


def _from_scene(rgb: np.ndarray, iterations: int, source: str) -> Segmentation:
    """The most object-like region of an ordinary photo (see the module docstring)."""
    import cv2

    h, w = rgb.shape[:2]
    sal = saliency(rgb)
    labels, areas = _salient_regions(sal)
    if not len(areas):
        raise DataError(f"no separable object: nothing in the photo stands out; {GUIDE_HINT}", source or None)
    order = np.argsort(areas)[::-1]
    seed = labels == order[0] + 1
    ys, xs = np.nonzero(seed)
    px, py = int(0.1 * (np.ptp(xs) + 1)), int(0.1 * (np.ptp(ys) + 1))
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    gc[max(0, ys.min() - py):ys.max() + py + 1, max(0, xs.min() - px):xs.max() + px + 1] = cv2.GC_PR_BGD
    gc[seed] = cv2.GC_PR_FGD
    band = max(2, round(0.01 * min(h, w)))
    gc[:band], gc[-band:], gc[:, :band], gc[:, -band:] = cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD
    mask, cleanup = _cleanup(_grabcut(rgb, gc, iterations))
    if mask.mean() < MIN_AREA:
        raise DataError(f"no separable object: GrabCut left an empty mask; {GUIDE_HINT}", source or None)
    separation = _colour_separation(rgb, mask)
    if separation < MIN_SEPARATION:
        raise DataError(f"no separable object: the most object-like region does not stand out from its surroundings "
                        f"(colour difference {separation:.1f} Lab units, at least {MIN_SEPARATION:g} needed); {GUIDE_HINT}",
                        source or None)
    doubts = _shape_doubts(mask, margin=band + 2) + cleanup
    similar = int((areas[order[1:]] > 0.3 * areas[order[0]]).sum())
    if similar:
        doubts.append(f"{similar + 1} similar salient regions; kept the largest")
    edges = _edge_strength(rgb, mask)
    if edges < MIN_EDGE_RATIO:
        doubts.append(f"its outline follows weak edges ({edges:.1f}x the photo's mean gradient, under {MIN_EDGE_RATIO:g}x): "
                      "it may cut through the object")
    stand_out = float(sal[mask].mean() / max(sal[~mask].mean(), 1e-6))
    if stand_out < 2.0:
        doubts.append(f"it barely stands out from the rest of the photo (saliency ratio {stand_out:.1f})")
    agree = (seed & mask).sum() / max(1, (seed | mask).sum())
    if agree < 0.5:
        doubts.append(f"GrabCut and the saliency prior disagree (IoU {agree:.2f})")
    return Segmentation(mask, rgb, "scene", _confidence(doubts), doubts, source)


def _guided(rgb: np.ndarray, box, point, iterations: int, source: str) -> Segmentation:
    """GrabCut inside the user's box, or around the salient region under the user's point."""
    import cv2

    h, w = rgb.shape[:2]
    gc = np.full((h, w), cv2.GC_BGD, np.uint8)
    if box is None:  # the region of similar colour grown from the point, boxed with a margin
        lab = cv2.cvtColor(cv2.GaussianBlur(rgb, (0, 0), 1.5), cv2.COLOR_RGB2LAB)
        grown = np.zeros((h + 2, w + 2), np.uint8)
        cv2.floodFill(lab, grown, point, (0, 0, 0), (10, 10, 10), (10, 10, 10), 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
        region = grown[1:-1, 1:-1].astype(bool)
        if not 0.25 * MIN_AREA * h * w <= region.sum() <= 0.5 * h * w:  # a speck, or the backdrop: a box around the point
            r = max(8, min(h, w) // 6)
            box = (max(0, point[0] - r), max(0, point[1] - r), min(w, point[0] + r), min(h, point[1] + r))
        else:
            ys, xs = np.nonzero(region)
            px, py = max(4, int(0.3 * (np.ptp(xs) + 1))), max(4, int(0.15 * (np.ptp(ys) + 1)))
            box = (max(0, xs.min() - px), max(0, ys.min() - py), min(w, xs.max() + px + 1), min(h, ys.max() + py + 1))
            gc[box[1]:box[3], box[0]:box[2]] = cv2.GC_PR_BGD
            gc[region & (gc == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    x0, y0, x1, y1 = box
    if point is None:
        gc[y0:y1, x0:x1] = cv2.GC_PR_FGD
    else:
        inside = gc[y0:y1, x0:x1]
        inside[inside == cv2.GC_BGD] = cv2.GC_PR_BGD
        cv2.circle(gc, point, max(2, round(0.01 * min(h, w))), cv2.GC_FGD, -1)
    try:
        mask = _grabcut(rgb, gc, iterations)
    except cv2.error:  # no background sample: a box of the whole photo
        raise DataError("the guided region leaves no background to learn from: give a box inside the photo with some "
                        "background around the object", source or None) from None
    if point is not None:  # keep the part under the point
        n, labels = cv2.connectedComponents(mask.astype(np.uint8))
        if labels[point[1], point[0]]:
            mask = labels == labels[point[1], point[0]]
    mask, cleanup = _cleanup(mask)
    if mask.mean() < MIN_AREA:
        raise DataError("no separable object in the guided region: GrabCut left an empty mask", source or None)
    doubts = _shape_doubts(mask) + cleanup
    return Segmentation(mask, rgb, "box" if point is None else "point", _confidence(doubts), doubts, source, guided=True)


def _colour_separation(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Lab distance between the median colours of the object and of a ring around it."""
    import cv2

    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    k = max(5, round(0.03 * min(mask.shape)) | 1)
    ring = (cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)) > 0) & ~mask
    if not ring.any():
        return 0.0
    return float(np.linalg.norm(np.median(lab[mask], axis=0) - np.median(lab[ring], axis=0)))


def _edge_strength(rgb: np.ndarray, mask: np.ndarray) -> float:
    """Mean gradient magnitude on the mask's outline over the photo's mean gradient magnitude."""
    import cv2

    g = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 1.5)
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    m = mask.astype(np.uint8)
    k = np.ones((3, 3), np.uint8)
    outline = (cv2.dilate(m, k) - cv2.erode(m, k)).astype(bool)
    return float(mag[outline].mean() / max(mag.mean(), 1e-6))


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


def _shape_doubts(mask: np.ndarray, margin: int = 0) -> list[str]:
    """Doubts from the mask's size and from its touching the border (``margin``: rows and columns held as
    background, so touching means reaching the first ones inside them)."""
    doubts = []
    frac = float(mask.mean())
    if frac > 0.9:
        doubts.append(f"the object fills {frac:.0%} of the image (is the background visible?)")
    elif frac < 0.01:
        doubts.append(f"the object covers only {frac:.1%} of the image")
    edges = {
        "top": mask[margin].mean(),
        "bottom": mask[-1 - margin].mean(),
        "left": mask[:, margin].mean(),
        "right": mask[:, -1 - margin].mean(),
    }
    cut = [side for side, v in edges.items() if v > 0.02]
    if cut:
        doubts.append("the object touches the image border (" + ", ".join(cut) + "): it may be cut off")
    return doubts


def _confidence(doubts: list[str]) -> float:
    return float(max(0.05, 1.0 - 0.25 * len(doubts)))
