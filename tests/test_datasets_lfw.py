"""LFW loading on tiny synthetic trees and archives: layouts, pixels, selection, cache, errors."""

from __future__ import annotations

import json
import os
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facerbm.datasets import LFW, FaceData, cache_home, load_lfw
from facerbm.datasets import archive as archive_mod
from facerbm.datasets import decode as decode_mod

CROP = (70, 195, 78, 172)  # (top, bottom, left, right), the default
# Fictional people; the last two exercise non-ASCII names. Values: number of images.
PEOPLE = {"Anna_Alpha": 4, "Bruno_Beta": 2, "Çelik_Ñandú": 1}
N_IMAGES = sum(PEOPLE.values())
DARK = 20


def inside_value(person: int, image: int) -> int:
    """Brightness of the crop box of image ``image`` (1-based) of person ``person``."""
    return 120 + 30 * person + 10 * image


def face_image(value: int, size: tuple[int, int] = (250, 250)) -> Image.Image:
    """RGB picture, dark except a flat box of ``value`` exactly on the default crop."""
    arr = np.full((*size, 3), DARK, np.uint8)
    top, bottom, left, right = CROP
    arr[top:bottom, left:right] = value
    return Image.fromarray(arr)


def build_lfw(parent: Path, layout: str = "lfw-deepfunneled", people=None) -> Path:
    """``parent/layout/<Person>/<Person>_NNNN.jpg`` like the real releases."""
    root = parent / layout
    for p, (name, n) in enumerate((people or PEOPLE).items()):
        (root / name).mkdir(parents=True)
        for i in range(1, n + 1):
            face_image(inside_value(p, i)).save(root / name / f"{name}_{i:04d}.jpg", quality=95)
    return root


def make_tgz(src: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return out


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FACERBM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def lfw_root(tmp_path) -> Path:
    return build_lfw(tmp_path / "data")


@pytest.fixture
def count_decodes(monkeypatch):
    """Counts calls of the per-file decoder."""
    calls = []
    real = decode_mod.read_image

    def counting(path, spec):
        calls.append(Path(path).name)
        return real(path, spec)

    monkeypatch.setattr(decode_mod, "read_image", counting)
    return calls


def no_decoding(monkeypatch):
    def fail(path, spec):
        raise AssertionError(f"decoded {path} although the cache should have been used")

    monkeypatch.setattr(decode_mod, "read_image", fail)


def load(root, **kw) -> FaceData:
    kw.setdefault("progress", False)
    return load_lfw(root, **kw)


# --- layouts and pixels -----------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["lfw", "lfw_funneled", "lfw-deepfunneled"])
@pytest.mark.parametrize("use_parent", [False, True])
def test_layouts(tmp_path, layout, use_parent):
    root = build_lfw(tmp_path / "d", layout)
    data = load(root.parent if use_parent else root)
    assert data.images.shape == (N_IMAGES, 62, 47)
    assert data.target_names == tuple(sorted(PEOPLE))
    assert data.files[0] == "Anna_Alpha/Anna_Alpha_0001.jpg"


def test_parent_with_two_lfw_folders_is_ambiguous(tmp_path):
    build_lfw(tmp_path / "d", "lfw")
    build_lfw(tmp_path / "d", "lfw_funneled")
    with pytest.raises(ValueError, match="several LFW folders"):
        load(tmp_path / "d")


def test_gray_default_values_order_and_targets(lfw_root):
    data = load(lfw_root)
    assert data.images.dtype == np.uint8 and data.image_shape == (62, 47)
    assert data.n_pixels == 62 * 47 and len(data) == N_IMAGES
    assert data.targets.dtype == np.int64
    expected_targets = [p for p, n in enumerate(PEOPLE.values()) for _ in range(n)]
    assert data.targets.tolist() == expected_targets
    for k, (p, i) in enumerate((p, i) for p, n in enumerate(PEOPLE.values()) for i in range(n)):
        img = data.images[k].astype(float)
        # The crop is exactly the bright box: away from the one-pixel rim that bilinear
        # interpolation mixes with the dark surround, the output is flat.
        assert np.abs(img[2:-2, 2:-2] - inside_value(p, i + 1)).max() <= 3
    assert "Çelik_Ñandú/Çelik_Ñandú_0001.jpg" in data.files


def test_rgb_shape_and_values(lfw_root):
    data = load(lfw_root, color=True)
    assert data.images.shape == (N_IMAGES, 62, 47, 3)
    assert np.abs(data.images[0, 10:-10, 10:-10].astype(float) - inside_value(0, 1)).max() <= 3


def test_whole_image_when_crop_is_none(lfw_root):
    data = load(lfw_root, crop=None, size=(50, 50))
    img = data.images[0].astype(float)
    assert img.shape == (50, 50)
    # The box maps to rows 14..39, cols 15.6..34.4 of a 50x50 image; corners are outside.
    assert abs(img[26, 25] - inside_value(0, 1)) <= 3
    assert img[:8, :8].max() <= DARK + 3 and img[-8:, -8:].max() <= DARK + 3


def test_size_none_keeps_crop_resolution(lfw_root):
    data = load(lfw_root, size=None)
    assert data.image_shape == (125, 94)
    # Exactly the box; only JPEG ringing at its rim differs from the flat value.
    assert np.abs(data.images[0, 2:-2, 2:-2].astype(float) - inside_value(0, 1)).max() <= 3
    assert data.images[0].astype(float).mean() > inside_value(0, 1) - 1


@pytest.mark.parametrize(
    "size",
    [(125, 94), (62, 47), (31, 23), (14, 11)],  # JPEG draft scales 1, 1/2, 1/4, 1/8
)
@pytest.mark.parametrize("crop", [CROP, (10, 240, 30, 130)])
def test_crop_and_resize_map_pixels_exactly(tmp_path, size, crop):
    # R = column, G = row: each output pixel must show the source coordinates of its centre,
    # whatever scale libjpeg decoded at.
    y, x = np.mgrid[0:250, 0:250]
    arr = np.stack([x, y, np.full_like(x, 128)], -1).astype(np.uint8)
    root = tmp_path / "lfw" / "Grad_Test"
    root.mkdir(parents=True)
    Image.fromarray(arr).save(root / "Grad_Test_0001.jpg", quality=100, subsampling=0)
    data = load(tmp_path / "lfw", color=True, crop=crop, size=size)
    img = data.images[0].astype(float)
    h, w = size
    top, bottom, left, right = crop
    want_x = left + (np.arange(w) + 0.5) * (right - left) / w - 0.5
    want_y = top + (np.arange(h) + 0.5) * (bottom - top) / h - 0.5
    # Average along the other axis to beat JPEG noise; skip the outermost pixels, which
    # see the image edge or the filter's clamp. A shift by half an output pixel would move
    # the mean error by at least 0.5 source pixels.
    err_x = img[:, :, 0].mean(0)[1:-1] - want_x[1:-1]
    err_y = img[:, :, 1].mean(1)[1:-1] - want_y[1:-1]
    for err in (err_x, err_y):
        assert np.abs(err).max() <= 1.0
        assert abs(err.mean()) <= 0.4


# --- selection --------------------------------------------------------------------------------


def test_min_faces_per_person(lfw_root):
    data = load(lfw_root, min_faces_per_person=2)
    assert data.target_names == ("Anna_Alpha", "Bruno_Beta")
    assert data.targets.tolist() == [0, 0, 0, 0, 1, 1]
    with pytest.raises(ValueError, match=r"min_faces_per_person=5 leaves no people.*is 4"):
        load(lfw_root, min_faces_per_person=5)


def test_max_faces_is_seeded_sorted_and_reindexed(lfw_root):
    picks = set()
    for seed in range(10):
        a = load(lfw_root, max_faces=3, seed=seed)
        b = load(lfw_root, max_faces=3, seed=seed)
        assert a.files == b.files and np.array_equal(a.images, b.images)
        assert len(a) == 3 and list(a.files) == sorted(a.files)
        # Targets index only the people present.
        present = sorted({f.split("/")[0] for f in a.files})
        assert list(a.target_names) == present
        assert [a.target_names[t] for t in a.targets] == [f.split("/")[0] for f in a.files]
        picks.add(a.files)
    assert len(picks) > 1  # the seed matters
    assert len(load(lfw_root, max_faces=100)) == N_IMAGES


@pytest.mark.parametrize(
    ("option", "value", "exc"),
    [
        ("size", (0, 47), ValueError),
        ("size", (62,), TypeError),
        ("size", "62x47", TypeError),
        ("size", (62.0, 47), TypeError),
        ("crop", (100, 50, 0, 10), ValueError),
        ("crop", (0, 300, 0, 10), ValueError),
        ("crop", (0, 10, 20), TypeError),
        ("min_faces_per_person", -1, ValueError),
        ("max_faces", 0, ValueError),
        ("color", "yes", TypeError),
        ("seed", 1.5, TypeError),
        ("strict", None, TypeError),
    ],
)
def test_bad_options_name_the_argument(lfw_root, option, value, exc):
    with pytest.raises(exc, match=option):
        load(lfw_root, **{option: value})


# --- cache ------------------------------------------------------------------------------------


def test_second_load_uses_cache(lfw_root, monkeypatch):
    first = load(lfw_root)
    no_decoding(monkeypatch)
    again = load(lfw_root)
    assert np.array_equal(first.images, again.images) and first.files == again.files
    # Selection options do not change pixels, so they are served from the same cache.
    assert len(load(lfw_root, min_faces_per_person=2)) == 6
    # Pixel options do: a new size must decode (and here hits the failing decoder).
    with pytest.raises(AssertionError, match="decoded"):
        load(lfw_root, size=(31, 23))
    assert len(list((cache_home() / "arrays").iterdir())) == 1


def test_cache_false_writes_nothing(lfw_root, count_decodes):
    load(lfw_root, cache=False)
    load(lfw_root, cache=False)
    assert len(count_decodes) == 2 * N_IMAGES
    assert not (cache_home() / "arrays").exists()


def _cache_dir() -> Path:
    (folder,) = list((cache_home() / "arrays").iterdir())
    return folder


@pytest.mark.parametrize(
    "damage",
    ["no_manifest", "no_images", "truncated_images", "other_key", "bad_json", "bad_shape"],
)
def test_stale_or_partial_cache_is_rebuilt(lfw_root, count_decodes, damage):
    first = load(lfw_root)
    folder = _cache_dir()
    manifest = folder / "manifest.json"
    images = folder / "images.npy"
    if damage == "no_manifest":
        manifest.unlink()
    elif damage == "no_images":
        images.unlink()
    elif damage == "truncated_images":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "bad_json":
        manifest.write_text("{not json", encoding="utf-8")
    else:
        m = json.loads(manifest.read_text("utf-8"))
        if damage == "other_key":
            m["key"]["size"] = [31, 23]
        else:
            m["shape"] = [N_IMAGES, 31, 23]
        manifest.write_text(json.dumps(m), encoding="utf-8")
    leftover = folder / "images.npy.tmp-999999999-dead"  # from a writer killed mid-save
    leftover.write_bytes(b"partial")
    count_decodes.clear()
    again = load(lfw_root)
    assert len(count_decodes) == N_IMAGES  # rebuilt, not trusted
    assert not leftover.exists()
    assert np.array_equal(first.images, again.images)
    count_decodes.clear()
    load(lfw_root)
    assert count_decodes == []  # and the rebuilt cache is good


def test_changed_folder_invalidates_cache(lfw_root):
    assert len(load(lfw_root)) == N_IMAGES
    face_image(200).save(lfw_root / "Bruno_Beta" / "Bruno_Beta_0003.jpg")
    data = load(lfw_root)
    assert len(data) == N_IMAGES + 1 and "Bruno_Beta/Bruno_Beta_0003.jpg" in data.files


# --- archives ---------------------------------------------------------------------------------


def test_archive_is_extracted_once_and_cached(tmp_path, lfw_root, monkeypatch):
    tgz = make_tgz(lfw_root, tmp_path / "lfw-deepfunneled.tgz")
    from_tgz = load(tgz)
    from_dir = load(lfw_root)
    assert np.array_equal(from_tgz.images, from_dir.images) and from_tgz.files == from_dir.files
    (extracted,) = list((cache_home() / "extracted").iterdir())
    assert extracted.name.startswith("lfw-deepfunneled-")
    assert (extracted / archive_mod.MARKER).is_file()

    def fail(*a, **k):
        raise AssertionError("extracted again")

    monkeypatch.setattr(archive_mod, "safe_extract", fail)
    assert len(load(tgz, cache=False)) == N_IMAGES  # extraction reused
    no_decoding(monkeypatch)
    assert len(load(tgz)) == N_IMAGES  # pixel cache used: no extraction, no decoding


def test_interrupted_extraction_is_redone(tmp_path, lfw_root):
    tgz = make_tgz(lfw_root, tmp_path / "lfw.tar.gz")
    load(tgz, cache=False)
    (extracted,) = list((cache_home() / "extracted").iterdir())
    (extracted / archive_mod.MARKER).unlink()  # as if killed before the marker was written
    (extracted / "lfw-deepfunneled" / "Anna_Alpha" / "Anna_Alpha_0001.jpg").unlink()
    # Temp folders: one of a killed run (no such pid), one of a live process (our parent).
    dead = cache_home() / "extracted" / f".tmp-{extracted.name}-999999999-dead"
    alive = cache_home() / "extracted" / f".tmp-{extracted.name}-{os.getppid()}-live"
    for tmp in (dead, alive):
        (tmp / "partial").mkdir(parents=True)
    data = load(tgz, cache=False)
    assert len(data) == N_IMAGES
    assert (extracted / archive_mod.MARKER).is_file()
    left = sorted(p.name for p in (cache_home() / "extracted").iterdir())
    assert left == sorted([extracted.name, alive.name])


def test_folder_holding_an_lfw_archive(tmp_path, lfw_root):
    shelf = tmp_path / "shelf"
    (shelf / "lfw-meta").mkdir(parents=True)
    (shelf / "lfw-meta" / "pairs.txt").write_text("10 300\n")
    make_tgz(lfw_root, shelf / "lfw-deepfunneled.tgz")
    assert len(load(shelf)) == N_IMAGES


def test_plain_tar_and_flat_archive(tmp_path, lfw_root):
    # A .tar whose members are the person folders themselves (no top folder).
    tar_path = tmp_path / "faces.tar"
    with tarfile.open(tar_path, "w") as tar:
        for person in sorted(lfw_root.iterdir()):
            tar.add(person, arcname=person.name)
    assert len(load(tar_path)) == N_IMAGES


def test_archive_without_lfw_layout(tmp_path):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("hi")
    tgz = make_tgz(tmp_path / "junk", tmp_path / "junk.tgz")
    with pytest.raises(ValueError, match="no LFW images found"):
        load(tgz)


def test_corrupt_archive(tmp_path):
    bad = tmp_path / "lfw.tgz"
    bad.write_bytes(b"\x1f\x8b\x08 this is not gzip")
    with pytest.raises(ValueError, match="cannot read archive"):
        load(bad)
    assert [p.name for p in (cache_home() / "extracted").iterdir()] == []


# --- bad files --------------------------------------------------------------------------------


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("bad_name", "make", "reason"),
    [
        ("Anna_Alpha_0002.jpg", _truncated, "cannot be decoded"),
        ("notes.txt", lambda p: p.write_text("not an image"), "cannot be decoded"),
        ("Anna_Alpha_0005.jpg", lambda p: face_image(150, (200, 180)).save(p), "200x180"),
    ],
)
def test_strict_and_lenient_bad_files(lfw_root, bad_name, make, reason):
    target = lfw_root / "Anna_Alpha" / bad_name
    if target.exists():
        make(target)
    else:
        target.touch()
        make(target)
    with pytest.raises(ValueError, match=rf"Anna_Alpha/{bad_name}.*{reason}.*strict=False"):
        load(lfw_root)
    with pytest.warns(UserWarning, match=rf"skipped 1 image.*Anna_Alpha/{bad_name}"):
        data = load(lfw_root, strict=False)
    n_expected = N_IMAGES - 1 if bad_name == "Anna_Alpha_0002.jpg" else N_IMAGES
    assert len(data) == n_expected and f"Anna_Alpha/{bad_name}" not in data.files
    # The cache remembers the bad file: strict still raises without decoding anything.
    with pytest.raises(ValueError, match=bad_name):
        load(lfw_root)


def test_all_images_bad(tmp_path):
    root = tmp_path / "lfw" / "Anna_Alpha"
    root.mkdir(parents=True)
    (root / "Anna_Alpha_0001.jpg").write_bytes(b"garbage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="none of the 1 images"):
            load(tmp_path / "lfw", strict=False)


def test_empty_person_folders_are_ignored(lfw_root):
    (lfw_root / "Empty_Person").mkdir()
    (lfw_root / ".hidden").mkdir()
    (lfw_root / "lfw-names.txt").write_text("Anna_Alpha 4\n")  # files in the root are skipped
    data = load(lfw_root)
    assert len(data) == N_IMAGES and "Empty_Person" not in data.target_names


def test_nothing_to_load(tmp_path):
    for name in ("Anna_Alpha", "Bruno_Beta"):
        (tmp_path / "lfw" / name).mkdir(parents=True)
    with pytest.raises(ValueError, match="no LFW images found"):
        load(tmp_path / "lfw")


def test_root_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "file.zip").write_bytes(b"PK")
    with pytest.raises(ValueError, match="not a .tgz"):
        load(tmp_path / "file.zip")
    with pytest.raises(ValueError, match=r"LFW not found in .*FACERBM_HOME"):
        load(None)


def test_root_none_uses_cache_home():
    build_lfw(cache_home())
    assert len(load(None)) == N_IMAGES


def test_root_none_finds_downloaded_archive(lfw_root, tmp_path):
    (cache_home() / "downloads").mkdir(parents=True)
    make_tgz(lfw_root, cache_home() / "downloads" / "lfw-deepfunneled.tgz")
    assert len(load(None)) == N_IMAGES


# --- the dataset class ------------------------------------------------------------------------


def test_lfw_class(lfw_root):
    torch = pytest.importorskip("torch")
    ds = LFW(lfw_root, progress=False, min_faces_per_person=2)
    assert len(ds) == 6 and isinstance(ds.data, FaceData)
    image, target = ds[5]
    assert image.dtype == torch.float32 and tuple(image.shape) == (62, 47)
    assert target == 1 and 0.0 <= float(image.min()) and float(image.max()) <= 255.0
    scaled = LFW(lfw_root, progress=False, transform=lambda t: t / 255.0)
    assert float(scaled[0][0].max()) <= 1.0
    rgb = LFW(lfw_root, progress=False, color=True)
    assert tuple(rgb[0][0].shape) == (62, 47, 3)
    assert LFW.URL.endswith("lfw-deepfunneled.tgz") and LFW.SHA256 is None
