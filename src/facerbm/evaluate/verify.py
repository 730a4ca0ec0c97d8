"""Face verification on LFW View 2: folds, cosine similarity, thresholds, accuracy and ROC AUC.

The protocol (Huang et al. 2007, §4): 10 folds of 300 matched and 300 mismatched pairs; for each
test fold a decision threshold is chosen on the pairs of the 9 other folds, and the accuracy on the
test fold is reported as the mean and standard error (std / √10) over the folds.

Similarity: features -> optional element-wise square root (for non-negative features such as NReLU
activities) -> centring and scaling (a z-score, or PCA whitening with k components) learned on the
images of the training folds only -> optionally a linear discriminant projection learned from the
identities of those images (LFW's "unrestricted" setting: the names of the training folds' people
may be used, never anything of the test fold) -> L2 normalisation -> optionally the mean of an
image's and its mirror image's unit vectors, renormalised (faces are nearly symmetric, so this
averages away some pose and lighting) -> cosine of the two images of a pair.
Arrays: features are (N, D) over images, pairs index rows of them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np

from facerbm.datasets.pairs import PairIndex, Pairs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Similarity:
    """How features become the score of a pair.

    Args:
        sqrt: take √max(f, 0) of each feature first (a variance-stabilising map for counts and
            rectified activities; skip it for pixels).
        whiten: PCA-whiten to this many components (fitted on the training folds' images), or
            None to z-score each feature with the training folds' mean and standard deviation.
        mirror: average each image's unit vector with that of its left-right mirror image (the
            centring and scaling are then fitted on both orientations of the training images).
        lda: after the whitening, project onto this many linear discriminants learned from the
            identities of the training folds' images (`discriminant_projection`), or None. This
            uses identity labels: LFW's unrestricted protocol, not the image-restricted one.
    """

    sqrt: bool = False
    whiten: int | None = None
    mirror: bool = False
    lda: int | None = None

    def __post_init__(self) -> None:
        for name in ("sqrt", "mirror"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name in ("whiten", "lda"):
            w = getattr(self, name)
            if w is not None and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
                raise ValueError(f"{name} must be None or a positive number of components, got {w!r}")

    def describe(self) -> str:
        parts = ["sqrt"] if self.sqrt else []
        parts.append(f"PCA-whitened ({self.whiten})" if self.whiten else "z-scored")
        if self.lda:
            parts.append(f"LDA ({self.lda}, identities of the training folds)")
        if self.mirror:
            parts.append("mirror-averaged")
        return ", ".join(parts) + ", cosine"

    def to_dict(self) -> dict:
        return asdict(self)


# -- folds --------------------------------------------------------------------------------------
def fold_training_mask(pairs: Pairs, people: Sequence[str], fold: int) -> np.ndarray:
    """Images a model may train on when ``fold`` is the test fold: those of people absent from it.

    The people of a fold are everyone who appears in any of its pairs, matched or mismatched
    (`Pairs.people_of_fold`); View 2's folds are person-disjoint, so this keeps the other folds'
    people and everyone in no pair at all.

    Args:
        pairs: the View 2 pairs.
        people: (N,) person name of each image.
        fold: the test fold, 0-based.

    Returns:
        (N,) bool mask over the images.
    """
    banned = pairs.people_of_fold(fold)
    return np.fromiter((p not in banned for p in people), dtype=bool, count=len(people))


def training_fold_images(index: PairIndex, fold: int) -> np.ndarray:
    """Sorted unique rows of the images in the pairs of every fold but ``fold``."""
    train = index.fold != fold
    return np.unique(np.concatenate([index.first[train], index.second[train]]))


# -- scores -------------------------------------------------------------------------------------
def similarity_transform(
    features: np.ndarray,
    fit_rows: np.ndarray,
    similarity: Similarity,
    *,
    seed: int = 0,
    mirrored: np.ndarray | None = None,
    labels: np.ndarray | None = None,
) -> np.ndarray:
    """Features (N, D) -> unit-length rows (N, D') per ``similarity``, learned on ``fit_rows`` only.

    ``mirrored`` (N, D) holds the features of the same images mirrored left-right; a similarity with
    ``mirror=True`` needs it, and is fitted on both orientations of ``fit_rows``. ``labels`` (N,)
    are the identities a similarity with ``lda`` learns from (only those of ``fit_rows`` are read).
    """
    from sklearn.decomposition import PCA

    if similarity.lda and (labels is None or len(labels) != len(features)):
        raise ValueError(
            f"a similarity with lda={similarity.lda} needs labels, one identity per image "
            f"({len(features)}), got {None if labels is None else len(labels)}"
        )
    if similarity.mirror:
        if mirrored is None or np.shape(mirrored) != np.shape(features):
            raise ValueError(
                "a mirror-averaged similarity needs the mirror images' features, of the same shape "
                f"{np.shape(features)}, got {None if mirrored is None else np.shape(mirrored)}"
            )
        n = len(features)
        both = np.concatenate([np.asarray(features), np.asarray(mirrored)])
        plain = replace(similarity, mirror=False)
        fit2 = np.concatenate([fit_rows, np.asarray(fit_rows) + n])
        labels2 = None if labels is None else np.concatenate([labels, labels])
        U = similarity_transform(both, fit2, plain, seed=seed, labels=labels2)
        return _unit_rows(U[:n] + U[n:])
    F = np.asarray(features, dtype=np.float64)
    if similarity.sqrt:
        F = np.sqrt(np.maximum(F, 0.0))
    fit = F[fit_rows]
    if similarity.whiten:
        k = min(similarity.whiten, fit.shape[0] - 1, fit.shape[1])
        pca = PCA(k, whiten=True, svd_solver="randomized", random_state=seed).fit(fit)
        F = pca.transform(F)
    else:
        mean, std = fit.mean(axis=0), fit.std(axis=0)
        F = (F - mean) / np.where(std > 1e-12, std, 1.0)  # constant features stay 0
    if similarity.lda:
        F = F @ discriminant_projection(F[fit_rows], np.asarray(labels)[fit_rows], similarity.lda)
    return _unit_rows(F)


def discriminant_projection(X: np.ndarray, labels: np.ndarray, k: int, shrinkage: float = 1e-3) -> np.ndarray:
    """Fisher's linear discriminants, scaled so the within-class covariance is the identity.

    The within-class covariance S_w is estimated from the classes with at least two rows (a
    person seen once says nothing about how one face varies) and shrunk towards its mean
    eigenvalue by ``shrinkage``; the returned columns are the top-k eigenvectors of S_b in the
    S_w-whitened space, so a cosine after the projection weighs directions by how much more they
    vary between people than within one person.

    Args:
        X: (n, D) features of the training images.
        labels: (n,) identities.
        k: discriminants to keep (at most D).

    Returns:
        (D, k) projection matrix.
    """
    X = np.asarray(X, dtype=np.float64)
    classes, inverse = np.unique(np.asarray(labels), return_inverse=True)
    counts = np.bincount(inverse)
    keep = counts[inverse] >= 2
    if np.count_nonzero(counts >= 2) < 2:
        raise ValueError(
            f"LDA needs at least 2 identities with 2 or more images among the {len(X)} training images, "
            f"got {np.count_nonzero(counts >= 2)}"
        )
    X, inverse = X[keep], inverse[keep]
    counts = np.bincount(inverse, minlength=len(classes))
    present = counts > 0
    means = np.zeros((len(classes), X.shape[1]))
    np.add.at(means, inverse, X)
    means[present] /= counts[present, None]
    within = X - means[inverse]
    Sw = within.T @ within / len(X)
    Sw += shrinkage * np.trace(Sw) / len(Sw) * np.eye(len(Sw))
    eig, U = np.linalg.eigh(Sw)
    T = U / np.sqrt(eig)  # Tᵀ S_w T = I
    between = (means[present] - X.mean(0)) @ T
    _, V = np.linalg.eigh(between.T @ between)
    k = min(int(k), V.shape[1])
    return T @ V[:, ::-1][:, :k]


def _unit_rows(F: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(F, axis=1, keepdims=True)
    return F / np.where(norm > 0, norm, 1.0)


def cosine_scores(unit_features: np.ndarray, index: PairIndex) -> np.ndarray:
    """Cosine of each pair from unit-length rows: (N, D), P pairs -> (P,)."""
    return np.einsum("pd,pd->p", unit_features[index.first], unit_features[index.second])


def best_threshold(scores: np.ndarray, matched: np.ndarray) -> float:
    """The threshold t maximising the accuracy of "matched iff score >= t" on these pairs.

    All distinct cut points are tried at once from the sorted scores (O(P log P)); t is the midpoint
    between the two scores around the best cut (ties: the highest such t).

    Args:
        scores: (P,) pair scores.
        matched: (P,) bool ground truth.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(matched, dtype=bool)
    if s.ndim != 1 or s.shape != y.shape or s.size == 0:
        raise ValueError(f"scores and matched must be equal-length 1-D arrays, got {s.shape} and {y.shape}")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    # Cut after position i (the i+1 highest scores say "matched"); i = -1 means none do.
    tp = np.concatenate([[0], np.cumsum(y_sorted)])  # matched pairs at or above the cut
    fp = np.concatenate([[0], np.cumsum(~y_sorted)])
    correct = tp + (fp[-1] - fp)  # matched above + mismatched below
    # A cut is only realisable between distinct scores.
    valid = np.concatenate([[True], s_sorted[:-1] > s_sorted[1:], [True]])
    correct = np.where(valid, correct, -1)
    i = int(np.argmax(correct))
    if i == 0:
        return float(s_sorted[0] + 1.0)
    if i == s.size:
        return float(s_sorted[-1] - 1.0)
    return float((s_sorted[i - 1] + s_sorted[i]) / 2.0)


def verification_accuracy(scores: np.ndarray, matched: np.ndarray, threshold: float) -> float:
    """Fraction of pairs classified right by "matched iff score >= threshold"."""
    return float(np.mean((np.asarray(scores) >= threshold) == np.asarray(matched, dtype=bool)))


def fold_metrics(scores: np.ndarray, index: PairIndex, fold: int) -> dict:
    """Threshold on the other folds' pairs, accuracy and ROC AUC on ``fold``'s pairs."""
    from sklearn.metrics import roc_auc_score

    train, test = index.fold != fold, index.fold == fold
    t = best_threshold(scores[train], index.matched[train])
    return {
        "fold": int(fold) + 1,
        "threshold": t,
        "train_accuracy": verification_accuracy(scores[train], index.matched[train], t),
        "accuracy": verification_accuracy(scores[test], index.matched[test], t),
        "auc": float(roc_auc_score(index.matched[test], scores[test])),
    }


def summarize_folds(per_fold: list[dict]) -> dict:
    """Mean accuracy, its standard error (std with ddof=1 over √folds) and mean AUC."""
    acc = np.array([f["accuracy"] for f in per_fold])
    auc = np.array([f["auc"] for f in per_fold])
    n = len(per_fold)
    se = float(acc.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return {
        "accuracy": float(acc.mean()),
        "accuracy_std_err": se,
        "auc": float(auc.mean()),
        "n_folds": n,
        "folds": per_fold,
    }


# -- the whole protocol -------------------------------------------------------------------------
FeatureMaker = Callable[[int, np.ndarray, np.ndarray], np.ndarray]
"""``make(fold, train_rows, rows) -> features (len(rows), D)`` of the images ``rows`` for test ``fold``,
from a model that may only learn from the images ``train_rows`` (people absent from ``fold``).
With `evaluate_view2`'s ``mirror_offset`` M, a row r >= M stands for image r - M mirrored."""


def evaluate_view2(
    people: Sequence[str],
    pairs: Pairs,
    index: PairIndex,
    methods: dict[str, tuple[FeatureMaker, dict[str, Similarity]]],
    *,
    folds: Sequence[int] | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    mirror_offset: int | None = None,
) -> dict:
    """Run View 2 for several feature methods, each scored with one or more similarities.

    Args:
        people: (N,) person of each image (for the people-disjoint training sets).
        pairs: the View 2 pairs; ``index`` maps them onto the N images.
        methods: method name -> (feature maker, {variant name: Similarity}).
        folds: test folds to run, 0-based (default all); thresholds always come from all other folds.
        seed: seeds the randomized PCA of whitening.
        progress: called as ``progress(fold)`` after each fold (a progress bar's update).
        mirror_offset: N, when the feature makers' row ``i + N`` is image ``i`` mirrored left-right;
            needed by similarities with ``mirror=True``. Models still train on ``train_rows`` < N.

    Returns:
        {variant name: {"method", "similarity", "sqrt", "whiten", "mirror", "accuracy", "accuracy_std_err",
        "auc", "n_folds", "folds": [per-fold dicts]}}.
    """
    folds = list(range(pairs.n_folds)) if folds is None else [int(k) for k in folds]
    for k in folds:
        if not 0 <= k < pairs.n_folds:
            raise ValueError(f"folds must lie in [1, {pairs.n_folds}], got fold {k + 1}")
    if len(index) != len(pairs):
        raise ValueError(f"index has {len(index)} pairs but pairs has {len(pairs)}")
    if mirror_offset is None and any(s.mirror for _, v in methods.values() for s in v.values()):
        raise ValueError("a similarity with mirror=True needs mirror_offset (the row of image 0's mirror)")
    if mirror_offset is not None and mirror_offset < len(people):
        raise ValueError(f"mirror_offset must be at least the {len(people)} images, got {mirror_offset}")
    # Only the images in some pair are scored: work on those rows.
    rows = np.unique(np.concatenate([index.first, index.second]))
    local = PairIndex(
        np.searchsorted(rows, index.first), np.searchsorted(rows, index.second), index.matched, index.fold
    )
    labels = np.asarray(people)[rows]
    per_fold: dict[str, list[dict]] = {}
    info: dict[str, dict] = {}
    for k in folds:
        train_rows = np.flatnonzero(fold_training_mask(pairs, people, k))
        fit_rows = training_fold_images(local, k)
        for method, (make, variants) in methods.items():
            mirrored = None
            if mirror_offset is None:
                features = make(k, train_rows, rows)
            else:
                both = make(k, train_rows, np.concatenate([rows, rows + mirror_offset]))
                features, mirrored = both[: rows.size], both[rows.size :]
            for variant, sim in variants.items():
                unit = similarity_transform(
                    features, fit_rows, sim, seed=seed, mirrored=mirrored, labels=labels
                )
                m = fold_metrics(cosine_scores(unit, local), local, k)
                m["n_train_images"] = int(train_rows.size)
                per_fold.setdefault(variant, []).append(m)
                info[variant] = {"method": method, "similarity": sim.describe(), **sim.to_dict()}
                logger.info("fold %d %s: accuracy %.4f AUC %.4f", k + 1, variant, m["accuracy"], m["auc"])
        if progress is not None:
            progress(k)
    return {v: {**info[v], **summarize_folds(per_fold[v])} for v in per_fold}
