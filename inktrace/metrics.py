"""Validation metrics of the InkTrace network, accumulated over a whole validation set.

Every metric is a ratio of *sums of counts* over the set (never an average of per-batch values),
so the result does not depend on how the set is split into batches or across DDP ranks. The
counters live in one float64 tensor: ``reduce()`` is a single ``all_reduce(SUM)``.

Conventions: pixel (row i, col j) has its centre at (x, y) = (j + .5, i + .5). Predictions are
probabilities (not logits). ``P`` = predicted centreline pixels (``pred["skeleton"] >= threshold``),
``G`` = ground-truth centreline pixels (``batch["skeleton"] > 0.5``). Topo points are kinds 0, 1, 2
(endpoint, junction, crossing), geo points kind 3 (corner); padding rows (kind -1) are skipped.

- ``iou``: pixel-exact, sum over the set of |P ∩ G| / sum of |P ∪ G| (1.0 if both are empty
  everywhere).
- ``precision``, ``recall``, ``f1``: with a ``tolerance`` (default 1 px), one-to-one as in the BSDS
  boundary benchmark. Predicted pixels are matched to ground-truth pixels at integer offsets
  (dy, dx) with dy² + dx² <= 2 · tolerance² (tolerance 1 = the 8-neighbourhood), greedily by
  increasing offset length, ties by dy then dx ascending: (0, 0), then (-1, 0), (0, -1), (0, 1),
  (1, 0), then (-1, -1), (-1, 1), (1, -1), (1, 1). In each round, every still-unmatched predicted
  pixel p is matched to the ground-truth pixel p + (dy, dx) if that one is still unmatched (a shift
  is a bijection, so a round has no conflicts). precision = matched / |P| (1.0 when nothing is
  predicted), recall = matched / |G| (1.0 when there is no ground truth), f1 = 2PR / (P + R)
  (0.0 when P + R = 0). An empty prediction of an empty image scores 1, 1, 1.
- ``kp_topo_recall``, ``kp_geo_recall`` (only when the predictions have ``keypoints``): predicted
  keypoints are the local maxima of channel 0 (topo) / 1 (geo) of ``pred["keypoints"]`` under a
  3×3 max-pool (a pixel equal to the maximum of its 3×3 neighbourhood, so a plateau gives several)
  with value >= ``kp_threshold``, located at their pixel centres. Per image they are matched
  one-to-one to the ground-truth points of that group within ``kp_radius`` px (distance <=
  ``kp_radius``), greedily by increasing distance. recall = matched points / ground-truth points
  over the set (1.0 when the set has no point of that group). Ceiling: two ground-truth points
  whose nearest pixels are 8-neighbours (up to 2.8 px apart; the data engine merges topo points
  only below 1.5 px, corners below 2 px) give a single 3×3 peak, so even the target heatmaps miss
  one of them (on stages 3-9, 0.5-1 % of topo points and a few corners).
- ``centre_error`` (px): mean over the predicted centreline pixels p in P that lie inside the
  ground-truth ``mask`` (where the true centreline is within reach and ``offset`` is defined). The
  predicted centreline point is q = centre(p) + pred offset(p) (q = centre(p) when the predictions
  have no ``offset``), the true one t = centre(p) + gt offset(p), and the error is the distance
  across the centreline |(q - t) × u|, u = (cos θ, sin θ) with θ = atan2(sin 2θ, cos 2θ) / 2 from
  the ground-truth ``tangent``, where ``tangent_mask`` is 1, and |q - t| where it is 0 (around
  junctions and crossings, where the direction is ambiguous). NaN when no pixel was measured.
- ``spurs``: false endpoints per image: the pixels of P with exactly one 8-neighbour in P
  (isolated pixels have none and are not counted) whose centre is farther than ``kp_radius`` from
  every ground-truth topo point of the image and from the centre of every endpoint pixel of G (by
  the same rule: this excuses the ends of strokes that leave the image, which list no point);
  their total over the set / the number of images.

``compute()`` returns ``{}`` before any image was accumulated.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["COUNTERS", "METRIC_NAMES", "InkMetrics", "peaks"]

COUNTERS = (
    "images",  # images accumulated
    "inter",
    "union",  # |P ∩ G|, |P ∪ G|
    "matched",
    "pred",
    "gt",  # tolerance matches, |P|, |G|
    "kp_images",  # images accumulated with predicted keypoints
    "kp_topo_matched",
    "kp_topo_total",
    "kp_geo_matched",
    "kp_geo_total",
    "centre_sum",
    "centre_count",
    "spurs",
)
_IDX = {name: i for i, name in enumerate(COUNTERS)}
# what ``compute`` returns, in order; the keypoint recalls only when keypoints were accumulated
METRIC_NAMES = (
    "iou",
    "precision",
    "recall",
    "f1",
    "kp_topo_recall",
    "kp_geo_recall",
    "centre_error",
    "spurs",
)
_KEYPOINT_METRICS = ("kp_topo_recall", "kp_geo_recall")
_TOPO_KINDS = (0, 1, 2)
_GEO_KINDS = (3,)
_CHUNK = 1 << 16  # points per distance block in _near_any


def peaks(heat: torch.Tensor, threshold: float, kernel: int = 3) -> torch.Tensor:
    """Local maxima of heatmaps ``heat`` (B, C, H, W): (N, 4) long rows (b, c, i, j) of the pixels
    equal to the maximum of their ``kernel`` × ``kernel`` neighbourhood (max-pool NMS; the image
    border is padded with -inf) and >= ``threshold``, in row-major order."""
    if heat.dim() != 4:
        raise ValueError(f"peaks expects (B, C, H, W) heatmaps, got shape {tuple(heat.shape)}")
    pooled = F.max_pool2d(heat, kernel, stride=1, padding=kernel // 2)
    return ((heat == pooled) & (heat >= threshold)).nonzero()


def _offsets(tolerance: float) -> list[tuple[int, int]]:
    """Integer offsets (dy, dx) with dy² + dx² <= 2 tolerance², by length, then dy, then dx."""
    r2 = 2.0 * tolerance * tolerance + 1e-9
    r = math.floor(math.sqrt(r2))
    offs = [
        (dy, dx) for dy in range(-r, r + 1) for dx in range(-r, r + 1) if dy * dy + dx * dx <= r2
    ]
    return sorted(offs, key=lambda o: (o[0] * o[0] + o[1] * o[1], o[0], o[1]))


def _shift_slices(d: int, n: int) -> tuple[slice, slice]:
    """Slices s_p, s_g of an axis of length n with s_g = s_p + d (both inside the axis)."""
    return slice(max(0, -d), n - max(0, d)), slice(max(0, d), n + min(0, d))


def _match_pixels(P: torch.Tensor, G: torch.Tensor, offsets: list[tuple[int, int]]) -> torch.Tensor:
    """Number of one-to-one tolerance matches between boolean maps P and G (B, H, W)."""
    H, W = P.shape[-2:]
    p_free, g_free = P.clone(), G.clone()
    matched = torch.zeros((), dtype=torch.float64, device=P.device)
    for dy, dx in offsets:
        (pr, gr), (pc, gc) = _shift_slices(dy, H), _shift_slices(dx, W)
        if pr.start >= pr.stop or pc.start >= pc.stop:
            continue
        m = p_free[:, pr, pc] & g_free[:, gr, gc]
        p_free[:, pr, pc] &= ~m
        g_free[:, gr, gc] &= ~m
        matched += m.sum()
    return matched


def _pack(b: torch.Tensor, xy: torch.Tensor, B: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Points ``xy`` (N, 2) of images ``b`` (N,), sorted by image, as padded (B, K, 2) arrays and a
    validity mask (B, K)."""
    counts = torch.bincount(b, minlength=B)
    K = int(counts.max()) if b.numel() else 0
    start = torch.cumsum(counts, 0) - counts
    slot = torch.arange(b.numel(), device=b.device) - start[b]
    out = torch.zeros(B, K, 2, dtype=xy.dtype, device=xy.device)
    valid = torch.zeros(B, K, dtype=torch.bool, device=xy.device)
    out[b, slot] = xy
    valid[b, slot] = True
    return out, valid


def _centres(i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """Pixel centres (N, 2) (x, y) of rows ``i``, columns ``j``."""
    return torch.stack([j, i], 1).to(torch.float32) + 0.5


def _match_points(pred_xy, pred_valid, gt_xy, gt_valid, radius: float) -> torch.Tensor:
    """One-to-one matches within ``radius`` per image, greedily by increasing distance: padded
    (B, Kp, 2) and (B, Kg, 2) points with masks; returns the number of matched pairs."""
    B, Kp, Kg = pred_xy.shape[0], pred_xy.shape[1], gt_xy.shape[1]
    matched = torch.zeros((), dtype=torch.float64, device=gt_xy.device)
    if Kp == 0 or Kg == 0:
        return matched
    d = torch.cdist(pred_xy.double(), gt_xy.double())  # (B, Kp, Kg)
    ok = pred_valid[:, :, None] & gt_valid[:, None, :] & (d <= radius)
    d = torch.where(ok, d, torch.inf).reshape(B, Kp * Kg)
    rows = torch.arange(B, device=d.device)
    for _ in range(min(Kp, Kg)):
        best, arg = d.min(1)
        hit = torch.isfinite(best)
        n = hit.sum()
        if not bool(n):
            break
        matched += n
        i, j = arg[hit] // Kg, arg[hit] % Kg
        view = d.view(B, Kp, Kg)
        view[rows[hit], i, :] = torch.inf
        view[rows[hit], :, j] = torch.inf
    return matched


def _endpoints(X: torch.Tensor) -> torch.Tensor:
    """Pixels of a boolean map X (B, H, W) with exactly one 8-neighbour in X."""
    x = X.to(torch.uint8)
    h = F.pad(x, (1, 1, 1, 1))
    rows = (
        h[:, :, :-2] + h[:, :, 1:-1] + h[:, :, 2:]
    )  # 3x3 box sum as two 1-D sums of shifted slices
    neighbours = rows[:, :-2] + rows[:, 1:-1] + rows[:, 2:] - x
    return X & (neighbours == 1)


def _near_any(
    xy: torch.Tensor, b: torch.Tensor, ref_xy: torch.Tensor, ref_valid: torch.Tensor, radius: float
) -> torch.Tensor:
    """(N,) whether each point ``xy`` (N, 2) of image ``b`` lies within ``radius`` of a valid point
    of that image among ``ref_xy`` (B, K, 2), ``ref_valid`` (B, K)."""
    out = torch.zeros(b.shape[0], dtype=torch.bool, device=xy.device)
    for s in range(0, b.shape[0], _CHUNK):  # bounded memory for very noisy predictions
        bb = b[s : s + _CHUNK]
        d2 = ((xy[s : s + _CHUNK, None, :] - ref_xy[bb]) ** 2).sum(-1)
        out[s : s + _CHUNK] = (ref_valid[bb] & (d2 <= radius * radius)).any(1)
    return out


def _kinds_mask(kind: torch.Tensor, kinds: tuple[int, ...]) -> torch.Tensor:
    out = torch.zeros_like(kind, dtype=torch.bool)
    for k in kinds:
        out |= kind == k
    return out


class InkMetrics:
    """Accumulates the metrics of the module docstring over batches; see ``update``/``compute``.

    ``device``: where the counters live (they follow the first batch's device when None). Under
    DDP, ``reduce()`` sums the counters of all ranks (on the current CUDA device with NCCL).
    """

    def __init__(
        self,
        threshold: float = 0.5,
        tolerance: float = 1.0,
        kp_threshold: float = 0.3,
        kp_radius: float = 3.0,
        device: torch.device | str | None = None,
    ) -> None:
        if tolerance < 0 or kp_radius < 0:
            raise ValueError("tolerance and kp_radius must be >= 0")
        self.threshold, self.tolerance = float(threshold), float(tolerance)
        self.kp_threshold, self.kp_radius = float(kp_threshold), float(kp_radius)
        self.device = torch.device(device) if device is not None else None
        self._offsets = _offsets(self.tolerance)
        self.reset()

    def reset(self) -> None:
        self.counts = torch.zeros(len(COUNTERS), dtype=torch.float64, device=self.device or "cpu")

    # ------------------------------------------------------------------ accumulation
    @torch.no_grad()
    def update(self, pred: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> None:
        """Accumulate one batch: ``pred`` has ``skeleton`` (B, H, W) and optionally ``keypoints``
        (B, 2, H, W) and ``offset`` (B, 2, H, W); ``batch`` is a data-engine batch dict."""
        sk = pred["skeleton"]
        if sk.dim() == 4 and sk.shape[1] == 1:
            sk = sk[:, 0]
        dev = sk.device
        if self.device is None and self.counts.device != dev:
            self.counts = self.counts.to(dev)
        B = sk.shape[0]
        stats = torch.zeros(len(COUNTERS), dtype=torch.float64, device=dev)
        stats[_IDX["images"]] = B

        P = sk >= self.threshold
        G = batch["skeleton"].to(dev) > 0.5
        stats[_IDX["inter"]] = (P & G).sum()
        stats[_IDX["union"]] = (P | G).sum()
        stats[_IDX["pred"]] = P.sum()
        stats[_IDX["gt"]] = G.sum()
        stats[_IDX["matched"]] = _match_pixels(P, G, self._offsets)

        points = batch["points"].to(device=dev, dtype=torch.float32)
        gt_xy, kind = points[..., :2], points[..., 2].round().long()
        topo = _kinds_mask(kind, _TOPO_KINDS)

        if pred.get("keypoints") is not None:
            stats[_IDX["kp_images"]] = B
            pk = peaks(pred["keypoints"].to(dev), self.kp_threshold)
            for ch, valid, name in (
                (0, topo, "kp_topo"),
                (1, _kinds_mask(kind, _GEO_KINDS), "kp_geo"),
            ):
                sel = pk[pk[:, 1] == ch]
                xy = _centres(sel[:, 2], sel[:, 3])
                near = _near_any(
                    xy, sel[:, 0], gt_xy, valid, self.kp_radius
                )  # the others cannot match
                p_xy, p_valid = _pack(sel[near, 0], xy[near], B)
                stats[_IDX[name + "_matched"]] = _match_points(
                    p_xy, p_valid, gt_xy, valid, self.kp_radius
                )
                stats[_IDX[name + "_total"]] = valid.sum()

        err, n = self._centre_error(pred, batch, P, dev)
        stats[_IDX["centre_sum"]], stats[_IDX["centre_count"]] = err, n
        stats[_IDX["spurs"]] = self._spurs(P, G, gt_xy, topo)
        self.counts += stats.to(self.counts.device)

    @staticmethod
    def _centre_error(pred, batch, P, dev):
        b, i, j = (P & (batch["mask"].to(dev) > 0.5)).nonzero(
            as_tuple=True
        )  # only the measured pixels

        def at(x):  # (B, C, H, W) -> (N, C) float64
            return x.to(dev)[b, :, i, j].to(torch.float64)

        off = pred.get("offset")
        diff = (at(off) if off is not None else 0.0) - at(batch["offset"])  # q - t
        tan = at(batch["tangent"])
        theta = 0.5 * torch.atan2(tan[:, 1], tan[:, 0])
        across = (diff[:, 0] * torch.sin(theta) - diff[:, 1] * torch.cos(theta)).abs()
        e = torch.where(
            batch["tangent_mask"].to(dev)[b, i, j] > 0.5,
            across,
            torch.linalg.vector_norm(diff, dim=1),
        )
        return e.sum(), b.numel()

    def _spurs(
        self, P: torch.Tensor, G: torch.Tensor, gt_xy: torch.Tensor, topo: torch.Tensor
    ) -> torch.Tensor:
        b, i, j = _endpoints(P).nonzero(as_tuple=True)
        if b.numel() == 0:
            return torch.zeros((), dtype=torch.float64, device=P.device)
        # an end is excused near a gt topo point or near an end of the gt skeleton itself (where a
        # stroke leaves the image, listing no point there)
        gb, gi, gj = _endpoints(G).nonzero(as_tuple=True)
        end_xy, end_valid = _pack(gb, _centres(gi, gj), P.shape[0])
        near = _near_any(
            _centres(i, j),
            b,
            torch.cat([gt_xy, end_xy], 1),
            torch.cat([topo, end_valid], 1),
            self.kp_radius,
        )
        return (~near).sum().to(torch.float64)

    # ------------------------------------------------------------------ results
    def reduce(self) -> None:
        """Sum the counters over all DDP ranks (a no-op without an initialised process group)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return
        t = self.counts
        if dist.get_backend() == "nccl" and t.device.type != "cuda":
            t = t.to(torch.device("cuda", torch.cuda.current_device()))
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        self.counts = t.to(self.counts.device)

    @staticmethod
    def names(keypoints: bool = True) -> list[str]:
        """The names ``compute`` returns (without prefix), for a model with or without keypoints."""
        return [n for n in METRIC_NAMES if keypoints or n not in _KEYPOINT_METRICS]

    def compute(self) -> dict[str, float]:
        """The metrics (keys without prefix) from the accumulated counters; see the module
        docstring."""
        c = {name: float(v) for name, v in zip(COUNTERS, self.counts.cpu().tolist())}
        if c["images"] == 0:
            return {}

        def ratio(num, den, empty):
            return num / den if den > 0 else empty

        precision = ratio(c["matched"], c["pred"], 1.0)
        recall = ratio(c["matched"], c["gt"], 1.0)
        values = {
            "iou": ratio(c["inter"], c["union"], 1.0),
            "precision": precision,
            "recall": recall,
            "f1": ratio(2 * precision * recall, precision + recall, 0.0),
            "kp_topo_recall": ratio(c["kp_topo_matched"], c["kp_topo_total"], 1.0),
            "kp_geo_recall": ratio(c["kp_geo_matched"], c["kp_geo_total"], 1.0),
            "centre_error": ratio(c["centre_sum"], c["centre_count"], float("nan")),
            "spurs": c["spurs"] / c["images"],
        }
        return {name: values[name] for name in self.names(keypoints=c["kp_images"] > 0)}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"counts": self.counts.detach().clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        counts = torch.as_tensor(state["counts"], dtype=torch.float64)
        if counts.shape != (len(COUNTERS),):
            raise ValueError(f"expected {len(COUNTERS)} counters, got shape {tuple(counts.shape)}")
        self.counts = counts.to(self.counts.device).clone()

    def merge(self, other: InkMetrics | dict[str, torch.Tensor]) -> None:
        """Add another accumulation (an InkMetrics or its state_dict) to this one."""
        state = other.state_dict() if isinstance(other, InkMetrics) else other
        self.counts += torch.as_tensor(state["counts"], dtype=torch.float64).to(self.counts.device)
