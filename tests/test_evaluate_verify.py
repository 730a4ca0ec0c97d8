"""View 2 verification on synthetic pairs: people-disjoint training sets, thresholds, known accuracies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facerbm.datasets import read_pairs
from facerbm.evaluate.verify import (
    Similarity,
    best_threshold,
    discriminant_projection,
    evaluate_view2,
    fold_training_mask,
    similarity_transform,
    summarize_folds,
    training_fold_images,
    verification_accuracy,
)

N_FOLDS, PER_FOLD, PEOPLE_PER_FOLD, IMAGES_EACH = 4, 25, 10, 4


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A synthetic LFW: person-disjoint folds of pairs, extra people in no pair, and a pairs.txt."""
    rng = np.random.default_rng(0)
    folds = [[f"F{k}_P{j}" for j in range(PEOPLE_PER_FOLD)] for k in range(N_FOLDS)]
    outsiders = [f"Out_{j}" for j in range(5)]
    people = sorted(p for f in folds for p in f) + outsiders
    files = sorted(f"{p}/{p}_{i:04d}.jpg" for p in people for i in range(1, IMAGES_EACH + 1))
    lines = [f"{N_FOLDS}\t{PER_FOLD}"]
    for names in folds:
        for _ in range(PER_FOLD):
            p = names[rng.integers(len(names))]
            a, b = rng.choice(np.arange(1, IMAGES_EACH + 1), 2, replace=False)
            lines.append(f"{p}\t{a}\t{b}")
        for _ in range(PER_FOLD):
            p, q = rng.choice(names, 2, replace=False)
            lines.append(f"{p}\t{rng.integers(1, IMAGES_EACH + 1)}\t{q}\t{rng.integers(1, IMAGES_EACH + 1)}")
    path = tmp_path_factory.mktemp("meta") / "pairs.txt"
    path.write_text("\n".join(lines) + "\n")
    pairs = read_pairs(path)
    image_people = [f.split("/")[0] for f in files]
    # A perfect feature: every image of a person is that person's random code.
    ids = {p: rng.normal(size=16) for p in people}
    features = np.stack([ids[p] for p in image_people])
    return pairs, pairs.index(files), image_people, features


def test_no_person_of_a_test_fold_is_in_its_training_images(world):
    pairs, index, people, _ = world
    for k in range(N_FOLDS):
        mask = fold_training_mask(pairs, people, k)
        in_fold = pairs.people_of_fold(k)
        assert not any(people[i] in in_fold for i in np.flatnonzero(mask))
        # Everyone else stays available: other folds' people and those in no pair.
        assert all(people[i] in in_fold for i in np.flatnonzero(~mask))
        assert any(p.startswith("Out_") for p in np.asarray(people)[mask])
        rows = training_fold_images(index, k)
        assert not any(people[i] in in_fold for i in rows)


def test_evaluate_view2_hands_each_fold_only_people_absent_from_it(world):
    pairs, index, people, features = world
    seen = []

    def make(k, train_rows, rows):
        seen.append(k)
        assert not {people[i] for i in train_rows} & pairs.people_of_fold(k)
        return features[rows]

    res = evaluate_view2(people, pairs, index, {"ids": (make, {"ids": Similarity()})}, folds=[0, 2])
    assert seen == [0, 2] and res["ids"]["n_folds"] == 2
    assert [f["fold"] for f in res["ids"]["folds"]] == [1, 3]


def test_perfect_similarity_gives_100_percent_and_auc_1(world):
    pairs, index, people, features = world
    res = evaluate_view2(
        people,
        pairs,
        index,
        {"ids": (lambda k, t, rows: features[rows], {"z": Similarity(), "white": Similarity(whiten=8)})},
    )
    for r in res.values():
        assert r["accuracy"] == 1.0 and r["auc"] == 1.0 and r["n_folds"] == N_FOLDS
        assert r["accuracy_std_err"] == 0.0


def test_random_features_give_chance_accuracy(world):
    pairs, index, people, _ = world
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(len(people), 16))
    methods = {"noise": (lambda k, t, rows: noise[rows], {"n": Similarity()})}
    res = evaluate_view2(people, pairs, index, methods)
    # Scores independent of the labels: each balanced test pair is right with probability 1/2 whatever
    # the threshold, so the mean over all 2·PER_FOLD·N_FOLDS test pairs has sd 0.5/√200 ≈ 0.035.
    sd = 0.5 / math.sqrt(2 * PER_FOLD * N_FOLDS)
    assert abs(res["n"]["accuracy"] - 0.5) < 4 * sd
    assert abs(res["n"]["auc"] - 0.5) < 0.15


def test_best_threshold_matches_brute_force():
    rng = np.random.default_rng(2)
    for trial in range(30):
        n = int(rng.integers(1, 40))
        scores = np.round(rng.normal(size=n), 1)  # rounding makes ties
        matched = rng.random(n) < 0.5
        t = best_threshold(scores, matched)
        cands = np.concatenate([[scores.max() + 1], np.unique(scores)])
        best = max(verification_accuracy(scores, matched, c) for c in cands)
        assert verification_accuracy(scores, matched, t) == pytest.approx(best), trial


def test_best_threshold_on_separable_scores_and_extremes():
    s = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    y = np.array([True, True, True, False, False])
    assert best_threshold(s, y) == pytest.approx(0.45)
    assert verification_accuracy(s, y, 0.45) == 1.0
    assert best_threshold(s, np.zeros(5, bool)) > 0.9  # nobody matched: threshold above all
    assert best_threshold(s, np.ones(5, bool)) < 0.1
    with pytest.raises(ValueError, match="equal-length"):
        best_threshold(s, y[:3])


def test_similarity_transform_learns_only_from_fit_rows():
    rng = np.random.default_rng(3)
    F = rng.normal(size=(50, 6)) + 3
    fit = np.arange(30)
    for sim in (Similarity(), Similarity(whiten=4), Similarity(sqrt=True, whiten=3)):
        a = similarity_transform(F, fit, sim)
        G = F.copy()
        G[30:] = rng.normal(size=(20, 6)) * 100  # change images outside the fit rows only
        b = similarity_transform(G, fit, sim)
        np.testing.assert_allclose(a[:30], b[:30], atol=1e-10)
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)


def test_mirror_averaging_cancels_what_mirroring_flips(world):
    # Features [identity, nuisance], and the mirror image's [identity, -nuisance] (a cue such as the
    # side the light comes from): averaging the two unit vectors leaves the identity alone.
    pairs, index, people, ids = world
    rng = np.random.default_rng(4)
    nuisance = rng.normal(size=(len(ids), 4 * ids.shape[1]))
    features, mirrored = np.hstack([ids, nuisance]), np.hstack([ids, -nuisance])
    N = len(people)
    table = np.concatenate([features, mirrored])
    seen = []

    def make(k, train_rows, rows):
        seen.append((train_rows.max(), rows.size))
        return table[rows]

    sims = {"plain": Similarity(), "mirror": Similarity(mirror=True)}
    res = evaluate_view2(people, pairs, index, {"f": (make, sims)}, mirror_offset=N)
    assert res["mirror"]["accuracy"] == 1.0 and res["mirror"]["auc"] == 1.0
    assert res["plain"]["accuracy"] < 0.85  # z-scored, the nuisance has 4x the identity's dimensions
    assert all(top < N for top, _ in seen)  # models learn from the unmirrored images only
    n_rows = np.unique(np.concatenate([index.first, index.second])).size
    assert all(size == 2 * n_rows for _, size in seen)  # every image and its mirror


def test_mirror_averaging_of_identical_features_changes_nothing():
    rng = np.random.default_rng(5)
    F = rng.normal(size=(40, 5))
    fit = np.arange(25)
    plain = similarity_transform(F, fit, Similarity())
    np.testing.assert_allclose(similarity_transform(F, fit, Similarity(mirror=True), mirrored=F), plain)
    with pytest.raises(ValueError, match="needs the mirror images' features"):
        similarity_transform(F, fit, Similarity(mirror=True))


def test_mirror_similarity_without_mirror_offset_is_refused(world):
    pairs, index, people, features = world
    methods = {"f": (lambda k, t, rows: features[rows], {"m": Similarity(mirror=True)})}
    with pytest.raises(ValueError, match="needs mirror_offset"):
        evaluate_view2(people, pairs, index, methods)
    with pytest.raises(ValueError, match="mirror_offset must be at least"):
        evaluate_view2(people, pairs, index, methods, mirror_offset=3)


def test_discriminants_follow_the_between_person_direction_and_whiten_within():
    # Two people whose means differ along x; each varies 10x more along y than along x.
    rng = np.random.default_rng(6)
    labels = np.repeat([0, 1, 2], 200)
    means = np.array([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]])[labels]
    X = means + rng.normal(size=(600, 2)) * [0.1, 1.0]
    P = discriminant_projection(X, labels, 1, shrinkage=0.0)
    assert P.shape == (2, 1)
    assert abs(P[1, 0]) < 0.05 * abs(P[0, 0])  # the discriminant is x, not the noisy y
    within = X - np.stack([X[labels == c].mean(0) for c in range(3)])[labels]
    assert np.var(within @ P) == pytest.approx(1.0, rel=1e-6)  # unit within-class variance
    # People seen once do not enter the within-person spread; too few repeated people is refused.
    with pytest.raises(ValueError, match="at least 2 identities with 2 or more images"):
        discriminant_projection(X[:3], np.array([0, 1, 1]), 1)


def test_lda_learns_from_training_identities_to_ignore_what_varies_within_a_person(world):
    pairs, index, people, ids = world
    rng = np.random.default_rng(7)
    nuisance = rng.normal(size=(len(ids), 3 * ids.shape[1]))  # new for every image
    features = np.hstack([ids, nuisance])
    sims = {"plain": Similarity(), "lda": Similarity(lda=8)}
    res = evaluate_view2(people, pairs, index, {"f": (lambda k, t, rows: features[rows], sims)})
    assert res["lda"]["accuracy"] > 0.95 and res["lda"]["auc"] > 0.98
    assert res["plain"]["accuracy"] < 0.85
    assert res["lda"]["similarity"] == "z-scored, LDA (8, identities of the training folds), cosine"
    fit = np.arange(40)
    with pytest.raises(ValueError, match="lda=8 needs labels, one identity per image"):
        similarity_transform(features, fit, Similarity(lda=8))


def test_lda_learns_only_from_the_fit_rows():
    rng = np.random.default_rng(8)
    labels = np.repeat(np.arange(10), 5)
    F = rng.normal(size=(50, 6)) + labels[:, None]
    fit = np.arange(30)
    a = similarity_transform(F, fit, Similarity(whiten=5, lda=3), labels=labels)
    G, other = F.copy(), labels.copy()
    G[30:] = rng.normal(size=(20, 6)) * 100
    other[30:] = 0  # labels outside the fit rows are not read
    b = similarity_transform(G, fit, Similarity(whiten=5, lda=3), labels=other)
    np.testing.assert_allclose(a[:30], b[:30], atol=1e-10)


def test_similarity_options_are_checked():
    assert Similarity(sqrt=True, whiten=100).describe() == "sqrt, PCA-whitened (100), cosine"
    assert Similarity(whiten=9, mirror=True).describe() == "PCA-whitened (9), mirror-averaged, cosine"
    with pytest.raises(TypeError, match="mirror must be True or False"):
        Similarity(mirror="yes")
    with pytest.raises(ValueError, match="whiten must be None or a positive"):
        Similarity(whiten=0)
    with pytest.raises(TypeError, match="sqrt must be True or False"):
        Similarity(sqrt=1)
    with pytest.raises(ValueError, match="lda must be None or a positive number of components, got -2"):
        Similarity(lda=-2)


def test_summary_is_mean_and_standard_error():
    folds = [{"accuracy": a, "auc": 0.5} for a in (0.6, 0.7, 0.8)]
    s = summarize_folds(folds)
    assert s["accuracy"] == pytest.approx(0.7)
    assert s["accuracy_std_err"] == pytest.approx(0.1 / math.sqrt(3))
