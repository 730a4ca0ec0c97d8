"""Face identification on LFW's people with many images: who is this face, among a few people?

The task and split of scikit-learn's classic eigenfaces example ("Faces recognition example using
eigenfaces and SVMs"): the people with at least 70 images (7 people, 1,288 images), split by
``train_test_split(test_size=0.25, random_state=42)``. Classifiers, each fitted on the training part:

* features + logistic regression: standardized features, multinomial logistic regression with C
  chosen by 5-fold cross-validation on the training part (`logistic_identification`);
* eigenfaces + SVM: standardized pixels, PCA(150, whiten=True, randomized, random_state=42), an RBF
  SVM with class_weight="balanced", C and gamma grid-searched by 5-fold CV (`eigenfaces_svm`).

Arrays: features/pixels (N, D), targets (N,) int. Scores are accuracy and macro-averaged F1.
"""

from __future__ import annotations

import numpy as np

TEST_SIZE = 0.25
SPLIT_SEED = 42
MIN_FACES = 70
LOGISTIC_CS = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
SVM_GRID = {
    "C": [1e3, 5e3, 1e4, 5e4, 1e5],
    "gamma": [1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 1e-1],
}


def identification_split(targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train and test positions of scikit-learn's example split: (N,) targets -> (train, test) indices.

    Uses ``train_test_split(X, y, test_size=0.25, random_state=42)`` on the row positions, so it
    gives the same rows as the example run on the same images in the same order.
    """
    from sklearn.model_selection import train_test_split

    y = np.asarray(targets)
    if y.ndim != 1 or y.size < 4:
        raise ValueError(f"targets must be a 1-D array of at least 4 labels, got shape {y.shape}")
    train, test = train_test_split(np.arange(y.size), test_size=TEST_SIZE, random_state=SPLIT_SEED)
    return np.asarray(train), np.asarray(test)


def _scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro")),
    }


def _check(train_x, train_y, test_x, test_y):
    train_x, test_x = np.asarray(train_x, dtype=np.float64), np.asarray(test_x, dtype=np.float64)
    train_y, test_y = np.asarray(train_y), np.asarray(test_y)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(
            f"train_x and test_x must be (N, D) with the same D, got {train_x.shape}, {test_x.shape}"
        )
    if train_y.shape != (len(train_x),) or test_y.shape != (len(test_x),):
        raise ValueError("train_y and test_y must hold one label per row of train_x and test_x")
    return train_x, train_y, test_x, test_y


def logistic_identification(train_x, train_y, test_x, test_y, *, seed: int = 0) -> dict:
    """Standardize, then L2 logistic regression with C picked by 5-fold CV on the training rows.

    The features are z-scored with the training rows' statistics. When there are more features than
    training rows (raw pixels), they are first projected onto the span of the standardized training
    rows: the L2-penalised optimum w lies in that span (representer theorem), so w·x is unchanged for
    every x while each fit gets several times faster.

    Returns:
        {"accuracy", "macro_f1", "C"} on the test rows.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    train_x, train_y, test_x, test_y = _check(train_x, train_y, test_x, test_y)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0)
    std = np.where(std > 1e-12, std, 1.0)
    train_z, test_z = (train_x - mean) / std, (test_x - mean) / std
    if train_z.shape[1] > train_z.shape[0]:
        _, s, vt = np.linalg.svd(train_z, full_matrices=False)
        basis = vt[s > s[0] * 1e-10].T  # (D, r), r <= N
        train_z, test_z = train_z @ basis, test_z @ basis
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    search = GridSearchCV(LogisticRegression(max_iter=2000), {"C": list(LOGISTIC_CS)}, cv=cv, n_jobs=1)
    search.fit(train_z, train_y)
    return {**_scores(test_y, search.predict(test_z)), "C": float(search.best_params_["C"])}


def eigenfaces_svm(train_x, train_y, test_x, test_y, *, n_components: int = 150) -> dict:
    """scikit-learn's eigenfaces example: StandardScaler, PCA(150, whiten) and a grid-searched RBF SVM.

    Returns:
        {"accuracy", "macro_f1", "C", "gamma", "n_components"} on the test rows.
    """
    from sklearn.decomposition import PCA
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    train_x, train_y, test_x, test_y = _check(train_x, train_y, test_x, test_y)
    scaler = StandardScaler().fit(train_x)
    k = min(n_components, *train_x.shape)
    pca = PCA(k, whiten=True, svd_solver="randomized", random_state=SPLIT_SEED)
    z_train = pca.fit_transform(scaler.transform(train_x))
    z_test = pca.transform(scaler.transform(test_x))
    search = GridSearchCV(SVC(kernel="rbf", class_weight="balanced"), SVM_GRID, cv=5, n_jobs=1)
    search.fit(z_train, train_y)
    best = search.best_params_
    return {
        **_scores(test_y, search.predict(z_test)),
        "C": float(best["C"]),
        "gamma": float(best["gamma"]),
        "n_components": int(k),
    }


def identification_task(
    pixels: np.ndarray,
    people: np.ndarray,
    feature_makers: dict,
    *,
    min_faces: int = MIN_FACES,
    seed: int = 0,
) -> dict:
    """The whole identification table: learned features + logistic regression, eigenfaces + SVM, and
    logistic regression on raw pixels, on the example's split of the people with ``min_faces`` images.

    Args:
        pixels: (N, V) all images (e.g. all of LFW) in pixel units.
        people: (N,) person name of each image, images sorted by person as `load_lfw` returns them.
        feature_makers: row name -> ``make(train_rows, rows) -> features (len(rows), D)``, a model that
            may learn from the images ``train_rows`` (every image but the test images).
        min_faces: keep people with at least this many images (70 in the example).
        seed: seeds the cross-validation splits.

    Returns:
        {"min_faces", "n_people", "n_images", "n_train", "n_test", "people", "n_model_train_images",
        "results": {row name: {"accuracy", "macro_f1", hyper-parameters}}}.
    """
    people = np.asarray(people).astype(str)
    if pixels.ndim != 2 or len(pixels) != len(people):
        raise ValueError(f"pixels must be (N, V) with one person each, got {pixels.shape} and {people.shape}")
    names, inverse, counts = np.unique(people, return_inverse=True, return_counts=True)
    sel = np.flatnonzero(counts[inverse] >= min_faces)  # keeps the sorted image order
    if sel.size == 0:
        raise ValueError(f"no person has min_faces={min_faces} images (the most is {int(counts.max())})")
    kept, y = np.unique(inverse[sel], return_inverse=True)
    if kept.size < 2:
        raise ValueError(f"identification needs at least 2 people with {min_faces} images, got {kept.size}")
    train, test = identification_split(y)
    model_train = np.setdiff1d(np.arange(len(pixels)), sel[test])  # every image but the test images
    results = {}
    for name, make in feature_makers.items():
        F = make(model_train, sel)
        results[name] = logistic_identification(F[train], y[train], F[test], y[test], seed=seed)
    X = np.asarray(pixels[sel], dtype=np.float64)
    results["eigenfaces (PCA 150 whitened) + RBF SVM"] = eigenfaces_svm(X[train], y[train], X[test], y[test])
    results["raw pixels + logistic regression"] = logistic_identification(
        X[train], y[train], X[test], y[test], seed=seed
    )
    return {
        "min_faces": int(min_faces),
        "n_people": int(kept.size),
        "n_images": int(sel.size),
        "n_train": int(train.size),
        "n_test": int(test.size),
        "people": [str(names[i]) for i in kept],
        "n_model_train_images": int(model_train.size),
        "results": results,
    }
