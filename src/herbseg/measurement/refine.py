"""Edge refinement: put a predicted mask's outline where the sheet's own colours put it.

The network sees a sheet squeezed into its frame (a 2000×3000 scan in 256×256 is 8–12 sheet
pixels per frame pixel), so its outline is only as sharp as one frame pixel: pointed tips and
narrow lobes come back short, and per-leaf lengths were ~5 % low on the demo collection. The
sheet itself is sharp. Every pixel of the predicted mask, and every sheet pixel near its outline,
is re-decided by adding two pieces of evidence, as log-odds:

* the network's: ``logit(p) - logit(threshold)``, ``p`` its probability brought onto the sheet's
  grid (so with no colour evidence the answer is the network's own);
* the colours': the log-likelihood ratio, leaf over paper, of two Gaussians in CIELAB, capped at
  ``evidence`` so that colour alone cannot turn a pixel the network is sure about. The paper's is
  learned from a ring just outside the mask, the leaf's from the mask's confident interior, both
  on this sheet only (so paper tint, scan exposure and leaf colour need no global setting).

Three choices in that colour model keep the outline where a person would put it:

* One covariance for both, the mean of the two (a linear discriminant), so that an outline pixel
  half leaf and half paper falls on the boundary, as a half-covered pixel does in a mask drawn or
  thresholded at 50 %. With a covariance each, the paper's, far tighter than a leaf's, called a
  pixel a fifth covered "leaf", and every outline and stem came out about a sheet pixel too wide
  (validation plants, seed 5150: 100 k pixels wrong just outside the true outline against 19 k
  just inside).
* The leaf mean is the mean colour of the interior within about ``leaf_scale`` bands (a Gaussian
  window), not of the whole sheet: with a shared covariance the boundary sits half-way between
  the two means, and on a sheet of dark red, orange and green leaves a pale pink leaf is nearer
  the paper than that sheet-wide mean (LeafMachine2 LowRes_9 lost its margin). Where too little
  interior lies within that window, the sheet-wide mean stands in. Where the interior is dense
  within ``leaf_fine`` bands, the mean there takes over: a flower, a pale leaf or a taped patch
  among darker leaves is judged against its own colour (validation plants IoU 0.9499 -> 0.9576;
  held-out plants 0.9557 -> 0.9657, stem recall 0.912 -> 0.929). Only where the interior is
  dense: a fine window alone took the tape and paper beside white flowers on wiry plants,
  whose stems have no interior, for plant.
* A colour off the line from the paper to the leaves says nothing either way. The linear rule
  sorts every colour by which side of half-way it lies, so on a sheet of orange and brown leaves
  a violet flower (b* far below the paper's, where the leaves' lies far above) fell on the
  paper's side and was taken out of the network's mask at full strength (validation plants,
  seed 5150: 1,094 of a sheet's 2,341 flower pixels the network had). A pixel that is not the
  paper's colour, not lighter than the paper and further than ``off_axis`` in a*b* from every
  mix of the paper and its local leaf colour gets no paper-ward evidence: the network decides
  there. Grey things (a washer, a pen, a shadow) lie near the line in a*b*; a white label is
  lighter than the paper; mixed outline pixels lie on the line: none of them is affected.
  Nor does a colour darker than the local leaf colour by more than ``off_axis`` in L*: mixing
  with the paper only lightens it. Beside pale leaves and flowers the line is short and runs in
  hue more than in lightness, and where the sheet's leaves vary much in L* and little in a* the
  shared covariance weighs a* alone: a dark grey stem has the paper's a* and was taken out at
  full strength where the network gave it 0.7-0.9 (wiry validation plants, seed 5151: stem
  recall 0.826 -> 0.844; BENCHMARKS.md, "Dark stems beside pale leaves"). Dark things the
  network does not mark (ink, a washer) stay out: no evidence either way leaves its verdict.
* The pair with a covariance each keeps a veto: the evidence is the more paper-ward of the two
  ratios. The paper ring shows what else lies around the mask (translucent tape across a leaf,
  shadows); its own covariance calls those paper, where the linear rule would add anything on the
  leaf's side of half-way (the demo's tape strips: test IoU 0.981 -> 0.979 without the veto).

Validation plants (seed 5150), the real-sheet model: pooled IoU 0.853 -> 0.896, stem recall
0.905 -> 0.941 (``thin`` 0.1 before, 0.05 now; BENCHMARKS.md, "Outlines at half cover").

Inside the outline nothing is fixed: paper the network filled in is taken out wherever its colour
outweighs the network's probability, however deep it lies. At 512 px a frame pixel is 3–4 sheet
pixels, and the network fills the paper between close culms, stems and lobes and in holes several
frame pixels across; with only the outermost band re-decided (the rule until 2026-12-03), 73 % of
the false-positive pixels on the validation plants lay deeper than that band, and pooled IoU was
0.895 (0.932 now; stem recall 0.940 and 0.939; BENCHMARKS.md, "The paper inside the mask"). A
pale patch on a leaf is not the paper's colour, and the little evidence it gives does not
outweigh the network (LeafMachine2, looked at: what goes is paper in holes and between lobes, and
pens). Outside, only pixels within ``reach`` bands of the outline are added, so a label or a stain
elsewhere cannot be pulled in; the network's low probability on stems and petioles keeps a leaf
from growing along them, which colour alone would not.

Whole-plant masks want those stems. A stem, root or culm one to three sheet pixels wide is a
fraction of a frame pixel, so the network marks it faintly (validation synthetic plants at 512 px:
per sheet, 48–93 % of stem pixels get a probability of 0.1 or more, 2–55 % get 0.5), and the
outline band reaches only the first few pixels of it. With ``thin`` set, every pixel whose
probability is at least ``thin`` and that is connected through such pixels to the mask is
re-decided as well, by the same sum of evidence; the paper model is learned away from those
pixels. Only thin things are added that way: beyond the outline band, a region the colours would
add that is wider than ``thin_width`` bands (an inset photograph of the live plant, a metal
weight, a pen, all of which a network trained on few real sheets half-marks) is left as the
network had it. A faint region not connected to the mask (a label, a stamp) is never pulled in.

Thin structures are followed across the sheet's paper, not across what lies on it. Where a root
or a leaf tip ends on a barcode, a ruler or a pen, the network's faint trace covers that whole
object, and its bars, ticks and print are thin, dark and not the paper's colour, so the rule
above added them (validation plants, seed 5150: 17 k of the 23 k pixels it added are not plant,
most of them barcode bars, ruler ticks and a card's edge). So where the faint trace beyond the
mask is a cluster (wider than ``cluster_width`` bands of its axis: a barcode, a ruler's scale,
but also a dense root mass or a panicle), what lies under it and is not added is looked at: if
most of it is lighter than the paper and not the paper's colour (a white label on cream paper),
the cluster lies on an object, and nothing beyond the outline band is added there. Only lighter
grounds count: between the roots of a dense root mass or the spikelets of a panicle the ground
is paper darkened by the plant (a Violaceae sheet lost 444 pixels of a dense root mass when
every ground not the paper's colour counted), and a dark card's print is left as before
(BENCHMARKS.md, "Thin structures on labels").

A whole plant has no holes where it is covered or pale. Where a translucent tape strip crosses a
leaf, or a leaf is pale in patches, or a pale petal lies on a leaf, the network and the colours
call those pixels paper, and the mask gets holes a person tracing the plant would not leave. So
for whole-plant models a hole of the refined mask is filled where it lies in a broad part of the
plant and is covered plant. Broad: more than half of its rim lies in the plant's parts wider than
``thin_width`` bands either side (blades, petals), for the paper between the roots of a root mass
or between culms is not the paper's colour either (Violaceae root masses, looked at). Covered:
more than half of its core (its pixels deeper than half a band from the plant, away from the mixed
outline pixels) is not the paper's colour, not lighter than the paper, and not darker than the
plant around it (the local leaf mean). Paper in a loop of stems is the paper's colour, a sliver
of paper between two blades has no core, a white label on the plant is lighter than the paper,
and a metal washer lying on a leaf is darker than the leaf (LeafMachine2 LowRes_11: without that
test, 15.8 k pixels of washer were filled). The paper's colour for this test is learned from the
paper ring without the network mask's own holes: the ring reaches into them, and on a sheet of a
few broad leaves their tape, labels and washers would widen it until nothing was foreign. Leaf
models keep their holes: for them a taped leaf is a covered one (BENCHMARKS.md, "Holes that are
plant").

A pale patch the network leaves out is not always enclosed: on a faded sheet it reaches the
leaf's margin through a mouth a few pixels wide, where no colour test looks at it (the outline
band is re-decided only where the network is unsure, and there it is sure). So the bays are
tested too: the regions the mask encloses once it is closed by a disc of 2 bands, then of 4
(``bays``), each pass on the mask the last one left. They pass the same tests against a paper
colour learned without them (a bay lies inside the paper ring; on a drawn leaf with three bays,
the paper colour learned with them took the pale patch for paper), and must in addition be
leaf-coloured: more than half-way from the paper to the local leaf colour (:func:`leaf_side`).
Without that, translucent tape over the paper between two leaves was filled (validation plants,
seed 5150: 14 k pixels on one sheet). True holes are judged exactly as before, against the paper
without the holes only: against the narrower paper colour a taped hole of paper passed (12.7 k
pixels on one sheet). Over four train seeds, the validation plants faded to 0.4 of their
contrast gain 0.002 to 0.023 in IoU, and nothing measured loses (BENCHMARKS.md, "Bays"). The
wider disc alone reaches blotches with wider mouths but is not monotone: a bay that passes at 2
bands can join a wider one that fails as a whole (real sheets: 1,772 pixels lost). In turn, what
the narrow disc filled stays filled, and the wider one adds 0.003 more on the faded plants with
nothing removed (BENCHMARKS.md, "Bays in turn").

When the two colour classes do not separate on a sheet (dark or patterned backgrounds, leaves
the colour of the paper), the network's mask is returned unchanged and the caller is told. The test
is the share of the leaf core's and the paper ring's pixels the colour model sorts right, each
class's share measured on its samples and weighed by its pixel count (:func:`separation`): the
samples are capped per class, and pooling them as drawn weighed the classes by the cap instead, so
the same sheet passed at 3000 px and failed at 6000 once its leaf core outgrew the cap (a grass
sheet: 0.937 -> 0.858, neither class changed; BENCHMARKS.md, "Large scans").

A network can also fail the test by its own mask: on a faded grass sheet a model drew every
blade with a halo of paper some pixels wide, so the leaf core it sampled was one part in seven
paper, the colour model learned paper as a leaf colour and the sheet kept its halo (validation
seed 5150 faded to 0.6: IoU 0.74 on that sheet). So when the test fails, it is asked again
without the core pixels that are the paper's colour (:meth:`Paper.excludes`), provided they are at
most ``paper_in_core`` of the core: the plant's colours then separate from the paper's and the
halo is re-decided like any outline. A leaf the paper's colour leaves most of its core behind
and still keeps the network's mask (BENCHMARKS.md, "Paper inside the mask").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage.color import rgb2lab

from herbseg.measurement.colour import lab_of
from herbseg.measurement.distance import cut, deeper_than, distance_inside, wide_parts, within
from herbseg.measurement.holes import fill_holes


@dataclass(frozen=True)
class RefineSettings:
    """``predict.refine_edges``, ``refine_band``, ``refine_thin``, ``sheet_only``,
    ``drop_pictures`` and ``drop_cards``; the rest are fixed. The last three are not refinement's
    own: they travel here because they too read the sheet on the mask's grid
    (:func:`herbseg.model.masks.write_prediction`).

    ``band``: in frame pixels (1.0 = one frame pixel, the resolution of the network's outline),
    the depth inside the outline beyond which the leaf colour is sampled, and the unit of the
    distances below. ``thin``: the probability from which pixels connected to the mask are
    re-decided too (0: off; thin stems, module docstring). ``thin_width``: beyond the outline
    band, what they add must fit within this many bands of its axis (two bands: 2 frame pixels
    either side), else it is not added. ``reach``: how far outside the outline pixels may be
    added, in bands. ``context``: the paper ring reaches ``context`` bands beyond that.
    ``evidence``: the most log-odds colour may add or remove. ``leaf_scale``: the leaf colour is
    the interior's mean within a Gaussian window of this many bands (module docstring);
    ``leaf_fine``: a window of this many bands takes over where the interior is dense within it,
    weighed ``d / (d + leaf_trust)`` where ``d`` is the share of it that is interior (0: off).
    ``min_accuracy``: the colour model must sort the leaf core's and paper ring's pixels at least
    this well (:func:`separation`), else the sheet keeps the net's mask. ``cluster_width``: in
    bands, the faint trace beyond the mask wider than this either side of its axis is a cluster
    whose ground is looked at; ``foreign_share``: the share of that ground lighter than the paper
    and not its colour above which nothing is added there (:func:`on_objects`), and the share of a
    hole's rim that must be broad and of its core that must be covered plant for the hole to be
    filled. ``paper_in_core``: when the colours do not separate, the largest share of the leaf
    core that may be the paper's colour for the test to be made again without it (module
    docstring; 0: never). ``off_axis``: in CIELAB units, how far a colour lies from every
    mix of the paper and the leaves (in hue, or darker) for the colours to say nothing about it
    (:func:`off_axis`; 0: off). ``plant``: the model marks whole plants (``model.mask_class:
    plant``), so holes that are covered plant are filled (:func:`covered_holes`);
    ``hole_depth``: in bands, how deep a hole's core lies; ``bays``: in bands, the radii of the
    discs that close a bay's mouth for it to be tested as a hole, in turn (empty: true holes
    only). Built by :meth:`herbseg.stages.predict.PredictSettings.refine_for` from the
    ``predict:`` section and the model's mask class.
    """

    enabled: bool = field(default=True, metadata={"config": "predict.refine_edges"})
    band: float = field(default=1.0, metadata={"config": "predict.refine_band"})
    thin: float = field(default=0.0, metadata={"config": "predict.refine_thin", "resolved": True})
    sheet_only: bool = field(default=True, metadata={"config": "predict.sheet_only"})
    drop_pictures: bool = field(default=True, metadata={"config": "predict.drop_pictures"})
    drop_cards: bool = field(default=True, metadata={"config": "predict.drop_cards"})
    plant: bool = field(default=False, metadata={"config": "model.mask_class", "resolved": True})
    thin_width: float = field(default=2.0, metadata={"fixed": True})
    reach: float = field(default=1.0, metadata={"fixed": True})
    context: float = field(default=3.0, metadata={"fixed": True})
    evidence: float = field(default=4.0, metadata={"fixed": True})
    leaf_scale: float = field(default=32.0, metadata={"fixed": True})
    samples: int = field(default=20000, metadata={"fixed": True})
    min_accuracy: float = field(default=0.90, metadata={"fixed": True})
    cluster_width: float = field(default=2.0, metadata={"fixed": True})
    foreign_share: float = field(default=0.5, metadata={"fixed": True})
    hole_depth: float = field(default=0.5, metadata={"fixed": True})
    off_axis: float = field(default=20.0, metadata={"fixed": True})
    leaf_fine: float = field(default=4.0, metadata={"fixed": True})
    leaf_trust: float = field(default=0.5, metadata={"fixed": True})
    paper_in_core: float = field(default=0.25, metadata={"fixed": True})
    bays: tuple[float, ...] = field(default=(2.0, 4.0), metadata={"fixed": True})


# ``predict.refine_thin: auto`` for models that mark whole plants. Chosen on a synthetic validation
# collection (seed 5150, 12 sheets of 1500×2200, the real-sheet recipe's model at 512 px), never on
# the held-out seed 90210 or a real sheet: pooled IoU 0.851 (off), 0.883 (0.2), 0.894 (0.1), 0.896
# (0.05), 0.892 (0.03); stem-pixel recall 0.63, 0.80, 0.89, 0.94, 0.96. On 4 sparse wiry
# validation plants (seed 5151) 0.05 against 0.1: IoU 0.879 vs 0.847, stem recall 0.81 vs 0.61
# (BENCHMARKS.md, "Outlines at half cover").
THIN_FOR_PLANTS = 0.05


def band_px(settings: RefineSettings, grid_px_per_frame_px: float) -> int:
    """The band in pixels of the mask's grid; 0 (no refinement) when that grid is no finer than
    the frame."""
    if not settings.enabled or grid_px_per_frame_px <= 1.0:
        return 0
    return max(1, round(settings.band * grid_px_per_frame_px))


class _Gaussian:
    """A full-covariance Gaussian in Lab; ``score`` is its log-density up to a shared constant."""

    def __init__(self, x: np.ndarray):
        self.mean = x.mean(axis=0)
        self.cov = np.cov(x.T) + np.eye(3) * 1e-2  # flat paper has near-zero variance in a channel
        self.inv = np.linalg.inv(self.cov)
        self.logdet = float(np.linalg.slogdet(self.cov)[1])

    def distance2(self, x: np.ndarray) -> np.ndarray:
        """The squared Mahalanobis distance of each row of ``x`` from the mean."""
        d = x - self.mean
        return np.einsum("ij,jk,ik->i", d, self.inv, d)

    def score(self, x: np.ndarray) -> np.ndarray:
        return -0.5 * self.distance2(x) - 0.5 * self.logdet


class Paper(_Gaussian):
    """The paper's colour on this sheet: the Gaussian of samples of it in Lab, and how far from
    its mean 99 % of those samples lie. What counts as "not the paper's colour" then comes from
    this sheet, and is worked out once for every test that asks (the colour model, the separation
    retest, :func:`on_objects`, :func:`off_axis`, :func:`covered_holes`)."""

    def __init__(self, lab: np.ndarray):
        super().__init__(lab)
        self.limit = float(np.quantile(self.distance2(lab), 0.99))

    def excludes(self, lab: np.ndarray) -> np.ndarray:
        """Which rows of ``lab`` are not the paper's colour: further from its mean than 99 % of
        its own samples."""
        return self.distance2(lab) > self.limit


class LeafPaperColours:
    """Leaf against paper in Lab, as log-odds: the smaller of two log-likelihood ratios, so a
    colour counts as leaf only where both call it so (module docstring: why each).

    * Linear: one shared covariance (the mean of the two classes'), zero half-way between the
      paper mean and the leaf mean given for each pixel.
    * Quadratic: a covariance each, the sheet-wide leaf mean.
    """

    def __init__(self, leaf: np.ndarray, paper: Paper):
        self.leaf, self.paper = _Gaussian(leaf), paper
        self.shared_inv = np.linalg.inv((self.leaf.cov + self.paper.cov) / 2)

    def score(self, x: np.ndarray, leaf_mean: np.ndarray) -> np.ndarray:
        w = (leaf_mean - self.paper.mean) @ self.shared_inv
        linear = np.einsum("ij,ij->i", x - (leaf_mean + self.paper.mean) / 2, w)
        return np.minimum(linear, self.leaf.score(x) - self.paper.score(x))


class _LocalMean:
    """The mean colour of ``core`` pixels near each pixel, at two scales.

    The coarse window (Gaussian, ``sigma`` pixels) is summed in square tiles an eighth of its
    width, so it costs a few thousand tiles and only core pixels are read; the sheet-wide core
    mean is blended in with the weight of ``0.006 sigma²`` core pixels (about six squares a band
    wide, at the default scale), so it stands in where the window holds little or no core.

    The fine window (``fine`` pixels, tiles a quarter of its width; 0: none) takes over where
    it is densely core: with ``d`` the share of the fine window that is core, the mean is
    ``(d · fine mean + trust · coarse mean) / (d + trust)``. A flower, a pale leaf or a taped
    patch with a broad core of its own is then judged against its own colour, not against the
    leaves a hundred pixels round it; beside a thin stem, whose core is nil, the coarse mean stands
    (a fine window alone took the tape and paper beside white flowers on wiry plants for plant).
    """

    def __init__(self, rgb: np.ndarray, core: np.ndarray, sigma: float, fine: float, trust: float):
        coarse, _, coarse_tile = self._window(rgb, core, sigma, per_sigma=8, prior=1e-3)
        if fine <= 0:
            self.tile, mean = coarse_tile, coarse
        else:
            near, density, self.tile = self._window(rgb, core, fine, per_sigma=4, prior=0.0)
            ys = np.minimum(np.arange(near.shape[0]) * self.tile // coarse_tile, len(coarse) - 1)
            xs = np.arange(near.shape[1]) * self.tile // coarse_tile
            far = coarse[ys][:, np.minimum(xs, coarse.shape[1] - 1)]
            d = density[..., None]
            mean = (d * np.nan_to_num(near) + trust * far) / (d + trust)
        self.lab = rgb2lab(np.clip(mean / 255.0, 0.0, 1.0)).astype(np.float32)

    @staticmethod
    def _window(
        rgb: np.ndarray, core: np.ndarray, sigma: float, per_sigma: int, prior: float
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """The Gaussian-weighted mean RGB of ``core`` (``sigma`` px) on tiles ``sigma /
        per_sigma`` wide, with the sheet-wide core mean blended in at ``prior`` core pixels per
        sheet pixel (NaN where there is neither: no core and no prior), the share of the window
        that is core, and the tile's width."""
        tile = max(1, int(sigma // per_sigma))
        h, w = core.shape
        th, tw = -(-h // tile), -(-w // tile)
        rows, cols = np.nonzero(core)
        index = (rows // tile) * tw + cols // tile
        weight = np.bincount(index, minlength=th * tw).astype(np.float64).reshape(th, tw)
        pixels = rgb[rows, cols].astype(np.float64)  # core is never empty (refine_edges)
        colour = np.stack(
            [np.bincount(index, pixels[:, c], th * tw).reshape(th, tw) for c in range(3)], -1
        )
        weight = ndi.gaussian_filter(weight, sigma / tile)
        colour = np.stack([ndi.gaussian_filter(colour[..., c], sigma / tile) for c in range(3)], -1)
        extra = prior * tile * tile
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (colour + extra * pixels.mean(axis=0)) / (weight + extra)[..., None]
        return mean, weight / (tile * tile), tile

    def at(self, where: np.ndarray) -> np.ndarray:
        """The local leaf mean in Lab for the True pixels of ``where`` (N×3, their order)."""
        rows, cols = np.nonzero(where)
        return self.lab[rows // self.tile, cols // self.tile]


def _sample(where: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` of the True pixels of ``where``, as a boolean mask of the same shape."""
    idx = np.flatnonzero(where)
    if len(idx) > n:
        idx = rng.choice(idx, n, replace=False)
    out = np.zeros(where.size, dtype=bool)
    out[idx] = True
    return out.reshape(where.shape)


def separation(leaf_right: np.ndarray, paper_right: np.ndarray, n_leaf: int, n_paper: int) -> float:
    """The share of the leaf core's and paper ring's pixels the colour model sorts right, from
    whether it sorts each sample right (``leaf_right``, ``paper_right``) and each class's pixel
    count: every class's sample share weighed by its pixels, not by its samples, since those are
    capped per class. The figure then does not depend on the grid the mask is drawn on: both
    counts grow with the grid's area, where the cap does not (module docstring)."""
    total = n_leaf + n_paper
    return float(leaf_right.mean() * n_leaf / total + paper_right.mean() * n_paper / total)


def on_objects(
    faint: np.ndarray,
    plant: np.ndarray,
    rgb: np.ndarray,
    paper: Paper,
    radius: float,
    share: float,
) -> np.ndarray:
    """The clusters of the faint trace that lie on an object lighter than the paper (a white
    label, a barcode's white), as a mask: nothing beyond the outline band is added there (module
    docstring).

    ``faint``: the faint trace outside the network's mask; ``plant``: what refinement marks;
    ``paper``: the paper ring's colour. A cluster is a
    connected part of the opening of ``faint`` by a disc of ``radius``; its ground is what it
    holds that ``plant`` does not. A ground pixel is foreign where it is lighter than the paper's
    mean and not the paper's colour (:meth:`Paper.excludes`); a cluster lies on an object where
    more than ``share`` of its ground is foreign. A cluster with no ground is the plant's own.
    """
    clusters = wide_parts(faint, radius)
    if not clusters.any():
        return clusters
    labels, n = ndi.label(clusters, structure=np.ones((3, 3), bool))
    ground = clusters & ~plant
    if not ground.any():
        return ground
    lab = lab_of(rgb, ground)
    foreign = paper.excludes(lab) & (lab[:, 0] > paper.mean[0])
    return _most(labels[ground], foreign, n, share)[labels]


def _most(labels: np.ndarray, flags: np.ndarray, n: int, share: float) -> np.ndarray:
    """For each of the labels 0..``n``, whether more than ``share`` of the pixels carrying it
    (``labels``, one per pixel) are flagged (``flags``, the same pixels); a label no pixel
    carries, and the background label 0, are False."""
    count = np.bincount(labels, minlength=n + 1)
    hits = np.bincount(labels, weights=flags.astype(np.float64), minlength=n + 1)
    most = (count > 0) & (hits > share * count)
    most[0] = False
    return most


def off_axis(
    lab: np.ndarray,
    leaf_mean: np.ndarray,
    paper: Paper,
    chroma: float,
) -> np.ndarray:
    """Which rows of ``lab`` are a colour of their own: not the paper's (:meth:`Paper.excludes`),
    not lighter than the paper, and further than ``chroma`` from every mix of the paper's mean
    and the pixel's local leaf mean (``leaf_mean``, one row each): in the a*b* plane, or darker
    than that leaf mean in L* (a mix with the paper is never darker than the leaf). The colours
    say nothing about these (module docstring: a violet flower on a sheet of brown leaves, a
    dark stem among pale ones)."""
    d = lab[:, 1:] - paper.mean[1:]
    u = leaf_mean[:, 1:] - paper.mean[1:]
    along = np.clip(
        np.einsum("ij,ij->i", d, u) / np.maximum(np.einsum("ij,ij->i", u, u), 1e-6), 0, 1
    )
    off = np.hypot(*(d - along[:, None] * u).T) > chroma
    off |= lab[:, 0] < leaf_mean[:, 0] - chroma
    return off & (lab[:, 0] <= paper.mean[0]) & paper.excludes(lab)


def leaf_side(lab: np.ndarray, paper: Paper, near: np.ndarray) -> np.ndarray:
    """Which rows of ``lab`` lie more than half-way from the paper's mean to their own local leaf
    colour (``near``, one row each), measured along that line in CIELAB: the colour of a pale
    leaf, not of tape or a shadow over the paper."""
    d, u = lab - paper.mean, near - paper.mean
    return np.einsum("ij,ij->i", d, u) > 0.5 * np.einsum("ij,ij->i", u, u)


def enclosed_by(plant: np.ndarray, bay: float = 0.0) -> np.ndarray:
    """The pixels outside ``plant`` that it encloses: its holes and, with ``bay`` > 0, the bays
    whose mouth a disc of that radius closes."""
    closed = plant | deeper_than(within(plant, bay), bay) if bay > 0 else plant
    return fill_holes(closed) & ~plant


def covered_holes(
    plant: np.ndarray,
    rgb: np.ndarray,
    paper: Paper,
    near: _LocalMean,
    depth: float,
    width: float,
    share: float,
    bay: float = 0.0,
) -> np.ndarray:
    """The holes of ``plant`` that are plant, as a mask (module docstring); with ``bay`` > 0,
    its bays instead (:func:`enclosed_by`, true holes left out). A hole (4-connected, enclosed
    by ``plant``) is filled where more than ``share`` of its rim (the plant pixels next to it)
    lies in the plant's wide parts (its opening by a disc of ``width``: blades and petals, not
    roots, culms or stems), and more than ``share`` of its core (its pixels deeper than ``depth``
    from the plant) is covered plant: not the paper's colour (:meth:`Paper.excludes`), not
    lighter than the paper's mean and not darker than ``near``, the plant's local mean. A hole
    with no core (a sliver of paper between two blades) is left open. A bay must in addition be
    leaf-coloured over more than ``share`` of its core (:func:`leaf_side`): tape over the paper
    between two leaves is covered, but not leaf."""
    holes = enclosed_by(plant, bay)
    if bay > 0:
        holes &= ~enclosed_by(plant)
    if not holes.any():
        return holes
    labels, n = ndi.label(holes)
    core = deeper_than(holes, depth)
    if not core.any():
        return core
    rim = plant & ndi.binary_dilation(holes, structure=np.ones((3, 3), bool))
    rim_of = ndi.grey_dilation(labels, size=(3, 3))[rim]
    broad = _most(rim_of, wide_parts(plant, width)[rim], n, share)
    lab = lab_of(rgb, core)
    covered = paper.excludes(lab) & (lab[:, 0] <= paper.mean[0])
    near_core = near.at(core)
    covered &= lab[:, 0] >= near_core[:, 0]
    if bay > 0:
        covered &= leaf_side(lab, paper, near_core)
    return (broad & _most(labels[core], covered, n, share))[labels]


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def _faint_connected(prob: np.ndarray, mask: np.ndarray, thin: float) -> np.ndarray:
    """Pixels with probability ``>= thin`` connected (8-neighbours, through such pixels) to the
    mask: where a thin stem the network saw faintly can be."""
    labels, _ = ndi.label(prob >= thin, structure=np.ones((3, 3), bool))
    keep = np.unique(labels[mask])
    return np.isin(labels, keep[keep > 0])


def _fit(
    img: np.ndarray,
    core: np.ndarray,
    leaf_s: np.ndarray,
    paper_s: np.ndarray,
    paper: Paper,
    paper_lab: np.ndarray,
    n_paper: int,
    band: int,
    s: RefineSettings,
) -> tuple[LeafPaperColours, _LocalMean] | None:
    """The colour model of leaf (``core``, sampled at ``leaf_s``) against paper (``paper``, from
    the samples ``paper_lab`` taken at ``paper_s`` of its ``n_paper`` pixels), and the local leaf
    mean; None where it sorts the samples worse than ``s.min_accuracy`` (:func:`separation`)."""
    leaf_lab = lab_of(img, leaf_s)
    colours = LeafPaperColours(leaf_lab, paper)
    near = _LocalMean(img, core, band * s.leaf_scale, band * s.leaf_fine, s.leaf_trust)
    leaf_right = colours.score(leaf_lab, near.at(leaf_s)) > 0
    paper_right = colours.score(paper_lab, near.at(paper_s)) <= 0
    if separation(leaf_right, paper_right, int(core.sum()), n_paper) < s.min_accuracy:
        return None
    return colours, near


def refine_edges(
    prob: np.ndarray,
    rgb: np.ndarray,
    band: int,
    threshold: float = 0.5,
    settings: RefineSettings | None = None,
) -> tuple[np.ndarray, bool]:
    """The mask ``prob >= threshold`` with its outline re-decided by the sheet's colours.

    ``prob`` is the network's probability on the mask's grid and ``rgb`` the sheet on the same
    grid; ``band`` is in pixels of that grid (:func:`band_px`). Returns the mask and whether it
    was refined (False: nothing to refine, or the colours did not separate). Deterministic:
    colour samples are drawn with a fixed seed.
    """
    s = settings or RefineSettings()
    if rgb.shape[:2] != prob.shape:
        raise ValueError(f"sheet {rgb.shape[:2]} and probabilities {prob.shape} differ in size")
    mask = prob >= threshold
    if band < 1 or not mask.any() or mask.all():
        return mask, False
    outer = band * s.reach
    ring = outer + band * s.context
    faint = _faint_connected(prob, mask, s.thin) if 0 < s.thin < threshold else None
    # Work inside the plant's bounding box grown by the paper ring: the rest of the sheet cannot
    # change, and each distance transform holds 4 bytes a pixel.
    pad = int(np.ceil(ring)) + 1
    reach = mask if faint is None else faint
    rows, cols = np.flatnonzero(reach.any(axis=1)), np.flatnonzero(reach.any(axis=0))
    y0, y1 = max(0, rows[0] - pad), min(mask.shape[0], rows[-1] + pad + 1)
    x0, x1 = max(0, cols[0] - pad), min(mask.shape[1], cols[-1] + pad + 1)
    m, img, p = mask[y0:y1, x0:x1], rgb[y0:y1, x0:x1], prob[y0:y1, x0:x1]
    core = deeper_than(m, band)  # the leaf's colour is sampled here, away from mixed outline pixels
    outside = distance_inside(~m)  # to the mask, outside it
    zone = m | (outside <= cut(outer))  # every mask pixel, and the band outside the outline
    paper = (outside > cut(outer)) & (outside <= cut(ring))
    if faint is not None:  # thin structures: re-decided too, and never sampled as paper
        f = faint[y0:y1, x0:x1] & ~m
        beyond = f & (outside > cut(outer))
        zone |= f
        paper &= ~f
    del outside
    rng = np.random.default_rng(0)
    leaf_s, paper_s = _sample(core, s.samples, rng), _sample(paper, s.samples, rng)
    if leaf_s.sum() < 50 or paper_s.sum() < 50 or not zone.any():
        return mask, False
    paper_lab, n_paper = lab_of(img, paper_s), int(paper.sum())
    ring_colour = Paper(paper_lab)
    fit = _fit(img, core, leaf_s, paper_s, ring_colour, paper_lab, n_paper, band, s)
    if fit is None and s.paper_in_core > 0:  # the mask may hold paper: ask without it
        papery = ~ring_colour.excludes(lab_of(img, core))
        if papery.mean() <= s.paper_in_core:
            core = core.copy()
            core[core] = ~papery
            leaf_s = _sample(core, s.samples, np.random.default_rng(1))
            if leaf_s.sum() >= 50:
                fit = _fit(img, core, leaf_s, paper_s, ring_colour, paper_lab, n_paper, band, s)
    if fit is None:
        return mask, False
    colours, near = fit
    net = _logit(p) - _logit(threshold)
    refined = net > s.evidence  # the network is surer than colour can outweigh: no need to ask
    zone &= np.abs(net) <= s.evidence
    zone_lab, zone_leaf = lab_of(img, zone), near.at(zone)
    colour = np.clip(colours.score(zone_lab, zone_leaf), -s.evidence, s.evidence)
    if s.off_axis:  # a colour of its own (a violet flower, a dark stem) says nothing either way
        own = off_axis(zone_lab, zone_leaf, ring_colour, s.off_axis)
        colour[own] = np.maximum(colour[own], 0.0)
    refined[zone] = net[zone] + colour > 0
    if faint is not None:  # beyond the outline band, only thin structures on paper may be added
        wide = wide_parts(refined, band * s.thin_width)
        wide |= on_objects(f, refined, img, ring_colour, band * s.cluster_width, s.foreign_share)
        refined &= ~(beyond & wide)
    if s.plant:  # a whole plant has no holes where it is seen through tape or is pale
        depth, width = band * s.hole_depth, band * s.thin_width
        for bay in (0.0, *(band * b for b in s.bays)):  # each on what the last one left
            open_lab = paper_lab[~enclosed_by(m, bay)[paper_s]]  # the paper, not what it encloses
            if len(open_lab) >= 50:
                args = (img, Paper(open_lab), near, depth, width, s.foreign_share, bay)
                refined |= covered_holes(refined, *args)
    out = mask.copy()
    out[y0:y1, x0:x1] = refined
    return out, True
