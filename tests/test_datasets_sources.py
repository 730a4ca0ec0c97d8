"""FaceData, image folders, arrays, .mat sets, the embedded sample and load_faces dispatch."""

from __future__ import annotations

import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from facerbm.datasets import (
    FaceData,
    cache_home,
    load_array,
    load_faces,
    load_frey,
    load_image_folder,
    load_olivetti,
    load_sample,
)
from facerbm.datasets import decode as decode_mod

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FACERBM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def gray(value: int, size=(40, 30)) -> Image.Image:
    """Flat gray picture of (height, width) = size."""
    return Image.fromarray(np.full(size, value, np.uint8))


# --- FaceData ---------------------------------------------------------------------------------


def small_facedata() -> FaceData:
    images = np.arange(4 * 3 * 2, dtype=np.uint8).reshape(4, 3, 2)
    return FaceData(images, np.array([0, 1, -1, 1]), ("a", "b"), ("w", "x", "y", "z"), "test")


def test_facedata_properties_subset_flat():
    data = small_facedata()
    assert len(data) == 4 and data.image_shape == (3, 2) and data.n_pixels == 6
    flat = data.flat()
    assert flat.shape == (4, 6) and flat.dtype == np.float32
    assert np.array_equal(flat[1], np.arange(6, 12))
    # Image 1 is rows [6, 7], [8, 9], [10, 11]: mirrored, each row reversed.
    assert np.array_equal(data.flat(mirror=True)[1], [7, 6, 9, 8, 11, 10])
    rgb = FaceData(
        np.arange(2 * 3 * 2 * 3, dtype=np.uint8).reshape(2, 3, 2, 3),
        np.zeros(2, int),
        ("a",),
        ("p", "q"),
        "t",
    )
    m = rgb.flat(np.uint8, mirror=True).reshape(2, 3, 2, 3)
    assert np.array_equal(m, rgb.images[:, :, ::-1])  # width flipped, colour channels kept in order
    sub = data.subset([3, 1])
    assert sub.files == ("z", "x") and sub.targets.tolist() == [1, 1]
    assert sub.target_names == ("a", "b")
    assert data.subset(data.targets == 1).files == ("x", "z")
    assert data.subset(slice(0, 2)).files == ("w", "x")
    assert data.subset([]).images.shape == (0, 3, 2)
    assert "n=4" in repr(data) and "image_shape=(3, 2)" in repr(data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"images": np.zeros((2, 3), np.uint8)}, "images must be"),
        ({"images": np.zeros((2, 3, 3, 4), np.uint8)}, "images must be"),
        ({"targets": np.array([0, 1])}, "targets must be"),
        ({"targets": np.array([0, 0, 2, 0])}, "targets must lie"),
        ({"targets": np.array([0, 0, -2, 0])}, "targets must lie"),
        ({"files": ("a",)}, "files must have 4"),
    ],
)
def test_facedata_validation(kwargs, match):
    base = small_facedata()
    fields = {
        "images": base.images,
        "targets": base.targets,
        "target_names": base.target_names,
        "files": base.files,
        **kwargs,
    }
    with pytest.raises(ValueError, match=match):
        FaceData(**fields)


# --- image folders ----------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "faces"
    (root / "alice").mkdir(parents=True)
    (root / "bob" / "deeper").mkdir(parents=True)
    gray(10).save(root / "loose.png")
    gray(50).save(root / "alice" / "1.jpg", quality=95)
    gray(60).save(root / "alice" / "2.bmp")
    gray(70).save(root / "bob" / "1.pgm")
    gray(80).save(root / "bob" / "deeper" / "2.png")
    (root / "bob" / "notes.txt").write_text("ignored")
    (root / ".hidden.png").write_bytes(b"ignored too")
    return root


def test_image_folder_people_and_values(folder):
    data = load_image_folder(folder, progress=False)
    assert data.files == ("alice/1.jpg", "alice/2.bmp", "bob/1.pgm", "bob/deeper/2.png", "loose.png")
    assert data.target_names == ("alice", "bob")
    assert data.targets.tolist() == [0, 0, 1, 1, -1]
    assert data.images.shape == (5, 40, 30) and data.images.dtype == np.uint8
    assert np.abs(data.images.mean(axis=(1, 2)) - [50, 60, 70, 80, 10]).max() < 1.5
    assert load_image_folder(folder, color=True, progress=False).image_shape == (40, 30, 3)


def test_image_folder_16_bit_png_is_scaled(tmp_path):
    # Pillow's own I;16 -> L conversion clips at 255; the loader maps 0..65535 to 0..255.
    (tmp_path / "f").mkdir()
    Image.fromarray(np.full((8, 8), 128 * 257, np.uint16)).save(tmp_path / "f" / "deep.png")
    data = load_image_folder(tmp_path / "f", progress=False)
    assert data.images.dtype == np.uint8 and set(data.images.ravel().tolist()) == {128}


def test_image_folder_applies_exif_orientation(tmp_path):
    arr = np.zeros((40, 30), np.uint8)
    arr[:5] = 255  # bright top rows
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    (tmp_path / "f").mkdir()
    Image.fromarray(arr).save(tmp_path / "f" / "phone.jpg", exif=exif, quality=95)
    img = load_image_folder(tmp_path / "f", progress=False).images[0].astype(float)
    assert img.shape == (30, 40)  # displayed upright: the bright rows are now on the right
    assert img[:, -5:].mean() > 200 and img[:, :-8].mean() < 30


def test_image_folder_not_recursive(folder):
    data = load_image_folder(folder, recursive=False, progress=False)
    assert "bob/deeper/2.png" not in data.files and len(data) == 4


def test_image_folder_different_sizes_named(folder):
    gray(90, (41, 30)).save(folder / "bob" / "3.png")
    with pytest.raises(ValueError, match=r"'alice/1.jpg' is 40x30 but 'bob/3.png' is 41x30"):
        load_image_folder(folder, progress=False)
    data = load_image_folder(folder, size=(20, 15), progress=False)
    assert data.images.shape == (6, 20, 15)
    with pytest.warns(UserWarning, match=r"skipped 1 image.*'bob/3.png'"):
        lenient = load_image_folder(folder, strict=False, cache=False, progress=False)
    assert lenient.images.shape == (5, 40, 30) and "bob/3.png" not in lenient.files


def test_image_folder_float_tiff_is_scaled_not_black(tmp_path):
    from PIL import Image

    (tmp_path / "p").mkdir()
    ramp = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    Image.fromarray(ramp).save(tmp_path / "p" / "unit.tif")  # mode F, values in [0, 1]
    Image.fromarray(ramp * 255).save(tmp_path / "p" / "byte.tif")  # mode F, values in [0, 255]
    Image.fromarray(ramp * 1000).save(tmp_path / "p" / "wide.tif")  # neither: refused, named
    with pytest.raises(ValueError, match=r"wide.tif.*float pixels in \[0, 1e\+03\]"):
        load_image_folder(tmp_path, cache=False, progress=False)
    (tmp_path / "p" / "wide.tif").unlink()
    data = load_image_folder(tmp_path, cache=False, progress=False)
    expect = np.rint(ramp * 255).astype(np.uint8)
    for img in data.images:
        assert np.abs(img.astype(int) - expect).max() <= 1


def test_image_folder_resize_crops_to_aspect(tmp_path):
    # A tall picture, dark bands on top and bottom quarters: a square output keeps only the
    # centre, so it must be bright everywhere (no stretching of the bands into it).
    arr = np.full((80, 40), 200, np.uint8)
    arr[:20] = 0
    arr[60:] = 0
    (tmp_path / "f").mkdir()
    Image.fromarray(arr).save(tmp_path / "f" / "tall.png")
    data = load_image_folder(tmp_path / "f", size=(20, 20), progress=False)
    img = data.images[0].astype(float)
    assert img.shape == (20, 20)
    assert img[1:-1].min() >= 190


def test_image_folder_bad_file_strict_and_lenient(folder):
    (folder / "alice" / "3.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match=r"alice/3\.jpg.*strict=False"):
        load_image_folder(folder, progress=False)
    with pytest.warns(UserWarning, match=r"skipped 1 image.*alice/3\.jpg"):
        data = load_image_folder(folder, strict=False, progress=False)
    assert len(data) == 5


def test_image_folder_cache(folder, monkeypatch):
    first = load_image_folder(folder, progress=False)

    def fail(path, spec):
        raise AssertionError("decoded again")

    monkeypatch.setattr(decode_mod, "read_image", fail)
    again = load_image_folder(folder, progress=False)
    assert np.array_equal(first.images, again.images) and first.files == again.files
    assert (cache_home() / "arrays").is_dir()


def test_image_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(tmp_path / "empty", progress=False)
    with pytest.raises(ValueError, match="is not a folder"):
        load_image_folder(tmp_path / "missing", progress=False)
    with pytest.raises(TypeError, match="size"):
        load_image_folder(tmp_path / "empty", size=20)


# --- arrays -----------------------------------------------------------------------------------


def test_npy_uint8_and_float(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 6, 4), dtype=np.uint8)
    np.save(tmp_path / "a.npy", images)
    data = load_array(tmp_path / "a.npy")
    assert np.array_equal(data.images, images) and data.targets.tolist() == [-1] * 5
    assert data.files == ("",) * 5
    np.save(tmp_path / "f.npy", images / 255.0)
    data = load_array(tmp_path / "f.npy")
    assert data.images.dtype == np.float32 and data.images.max() <= 1.0  # as given
    np.save(tmp_path / "i.npy", images.astype(np.int64))
    assert load_array(tmp_path / "i.npy").images.dtype == np.uint8
    np.save(tmp_path / "c.npy", images[..., None])
    assert load_array(tmp_path / "c.npy").image_shape == (6, 4)
    rgb = np.zeros((2, 3, 3, 3), np.uint8)
    np.save(tmp_path / "rgb.npy", rgb)
    assert load_array(tmp_path / "rgb.npy").image_shape == (3, 3, 3)


def test_npz_round_trip(tmp_path):
    images = np.zeros((3, 4, 5), np.uint8)
    np.savez(
        tmp_path / "x.npz",
        images=images,
        targets=np.array([1, 0, -1]),
        target_names=np.array(["Ünal", "Zed"]),
        files=np.array(["a.jpg", "b.jpg", "c.jpg"]),
    )
    data = load_array(tmp_path / "x.npz")
    assert data.target_names == ("Ünal", "Zed") and data.targets.tolist() == [1, 0, -1]
    assert data.files == ("a.jpg", "b.jpg", "c.jpg")
    np.savez(tmp_path / "t.npz", images=images, targets=np.array([0, 2, 2]))
    assert load_array(tmp_path / "t.npz").target_names == ("0", "1", "2")


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"images": np.zeros((4, 5))}, r"\(N, H, W\).*leading axis"),
        ({"images": np.zeros((2, 4, 5, 4))}, r"\(N, H, W, 3\)"),
        ({"images": np.zeros((0, 4, 5))}, "no images"),
        ({"images": np.full((2, 4, 5), np.nan)}, "NaN"),
        ({"images": np.full((2, 4, 5), 300)}, r"\[0, 255\]"),
        ({"images": np.zeros((2, 4, 5), bool)}, "dtype bool"),
        ({"image": np.zeros((2, 4, 5))}, "no 'images' key"),
        ({"images": np.zeros((2, 4, 5)), "labels": np.zeros(2)}, "unknown key.*labels"),
        ({"images": np.zeros((2, 4, 5)), "targets": np.zeros(3, int)}, "targets"),
        ({"images": np.zeros((2, 4, 5)), "targets": np.array([0.0, 1.0])}, "integers"),
        ({"images": np.zeros((2, 4, 5)), "targets": np.array([0, -2])}, ">= -1"),
        (
            {"images": np.zeros((2, 4, 5)), "targets": np.array([0, 3]), "target_names": np.array(["a"])},
            "only 1 target_names",
        ),  # fmt: skip
        ({"images": np.zeros((2, 4, 5)), "target_names": np.array(["a"])}, "without 'targets'"),
        ({"images": np.zeros((2, 4, 5)), "files": np.array(["a"])}, "files"),
    ],
)
def test_array_errors(tmp_path, arrays, match):
    if list(arrays) == ["images"]:
        path = tmp_path / "bad.npy"
        np.save(path, arrays["images"])
    else:
        path = tmp_path / "bad.npz"
        np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match):
        load_array(path)


def test_array_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_array(tmp_path / "none.npy")
    (tmp_path / "x.csv").write_text("1,2")
    with pytest.raises(ValueError, match=r"\.npy or \.npz"):
        load_array(tmp_path / "x.csv")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="never unpickles"):
        load_array(tmp_path / "obj.npy")
    (tmp_path / "text.npy").write_text("not numpy")  # not a pickle either: said plainly
    with pytest.raises(ValueError, match=r"text.npy: not a NumPy \.npy file"):
        load_array(tmp_path / "text.npy")
    (tmp_path / "text.npz").write_text("not numpy")
    with pytest.raises(ValueError, match=r"text.npz: not a NumPy \.npz file"):
        load_array(tmp_path / "text.npz")


# --- .mat sets --------------------------------------------------------------------------------


def test_olivetti_layout(tmp_path):
    # Image k is an asymmetric pattern plus k, so a transposed or misordered read is caught.
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (400, 64, 64), dtype=np.uint8)
    faces = images.transpose(0, 2, 1).reshape(400, 4096).T  # as the .mat stores them
    scipy.io.savemat(tmp_path / "olivettifaces.mat", {"faces": faces})
    data = load_olivetti(tmp_path / "olivettifaces.mat")
    assert np.array_equal(data.images, images)
    assert data.targets.tolist() == [i // 10 for i in range(400)]
    assert len(data.target_names) == 40


def test_frey_layout(tmp_path):
    images = np.random.default_rng(2).integers(0, 256, (1965, 28, 20), dtype=np.uint8)
    scipy.io.savemat(tmp_path / "frey_rawface.mat", {"ff": images.reshape(1965, 560).T})
    data = load_frey(tmp_path / "frey_rawface.mat")
    assert np.array_equal(data.images, images) and set(data.targets.tolist()) == {0}


def test_mat_errors(tmp_path):
    scipy.io.savemat(tmp_path / "olivetti_wrong.mat", {"faces": np.zeros((10, 10), np.uint8)})
    with pytest.raises(ValueError, match="shape"):
        load_olivetti(tmp_path / "olivetti_wrong.mat")
    scipy.io.savemat(tmp_path / "frey_wrong.mat", {"other": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="no 'ff' array.*other"):
        load_frey(tmp_path / "frey_wrong.mat")
    (tmp_path / "olivetti_junk.mat").write_bytes(b"junk")
    with pytest.raises(ValueError, match="MATLAB"):
        load_olivetti(tmp_path / "olivetti_junk.mat")
    with pytest.raises(ValueError, match="does not exist"):
        load_frey(tmp_path / "missing.mat")


@pytest.mark.skipif(not (SHARED / "olivettifaces.mat").is_file(), reason="no ../shared/data")
def test_real_mat_files():
    olivetti = load_olivetti(SHARED / "olivettifaces.mat")
    assert olivetti.images.shape == (400, 64, 64) and olivetti.images.dtype == np.uint8
    # Upright faces: the forehead (top rows) is brighter than the lower face on average.
    img = olivetti.images.astype(float)
    assert img[:, 5:15].mean() > img[:, 50:60].mean()
    frey = load_frey(SHARED / "frey_rawface.mat")
    assert frey.images.shape == (1965, 28, 20)


# --- sample -----------------------------------------------------------------------------------


def test_sample():
    data = load_sample()
    assert 1000 <= len(data) <= 2000 and data.images.shape[1:] == (62, 47)
    assert data.images.dtype == np.uint8 and data.images.std() > 20
    counts = np.bincount(data.targets)
    assert (counts >= 50).sum() >= 10  # enough people with many images to identify
    assert len(data.target_names) > 100  # and a spread of others
    pairs = zip(data.files, data.targets, strict=True)
    assert all(f.split("/")[0] == data.target_names[t] for f, t in pairs)


# --- load_faces -------------------------------------------------------------------------------


def tiny_lfw(parent: Path) -> Path:
    root = parent / "lfw"
    for name, n in (("Anna_Alpha", 2), ("Bruno_Beta", 1)):
        (root / name).mkdir(parents=True)
        for i in range(1, n + 1):
            gray(100 + i, (250, 250)).convert("RGB").save(root / name / f"{name}_{i:04d}.jpg")
    return root


def test_load_faces_dispatch(tmp_path, folder, monkeypatch):
    assert len(load_faces("sample")) == len(load_sample())
    lfw = tiny_lfw(tmp_path)
    assert load_faces(lfw, progress=False).source.startswith("LFW from")
    assert load_faces(str(lfw.parent), progress=False).source.startswith("LFW from")
    with tarfile.open(tmp_path / "lfw.tgz", "w:gz") as tar:
        tar.add(lfw, arcname="lfw")
    assert len(load_faces(tmp_path / "lfw.tgz", progress=False)) == 3
    assert load_faces(folder, progress=False).source.startswith("image folder")
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (tmp_path / "lfw.tgz").rename(shelf / "lfw.tgz")
    assert load_faces(shelf, progress=False).source.startswith(f"LFW from {shelf}")
    assert load_faces(f"folder:{lfw}", progress=False).source.startswith("image folder")
    np.save(tmp_path / "x.npy", np.zeros((2, 3, 3), np.uint8))
    assert len(load_faces(tmp_path / "x.npy")) == 2
    images = np.zeros((400, 64, 64), np.uint8)
    scipy.io.savemat(tmp_path / "olivetti_faces.mat", {"faces": images.reshape(400, -1).T})
    assert len(load_faces(tmp_path / "olivetti_faces.mat")) == 400
    assert len(load_faces(f"olivetti:{tmp_path / 'olivetti_faces.mat'}")) == 400
    # "lfw" is ./lfw when it exists.
    monkeypatch.chdir(tmp_path)
    assert len(load_faces("lfw", progress=False)) == 3


def test_load_faces_errors(tmp_path):
    with pytest.raises(ValueError, match=r"nowhere.*no such file.*accepts.*sample"):
        load_faces(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="does not exist"):
        load_faces(f"frey:{tmp_path / 'missing.mat'}")
    scipy.io.savemat(tmp_path / "faces.mat", {"x": np.zeros(2)})
    with pytest.raises(ValueError, match="olivetti:PATH or frey:PATH"):
        load_faces(tmp_path / "faces.mat")
    (tmp_path / "doc.pdf").write_bytes(b"%PDF")
    with pytest.raises(ValueError, match="unsupported file type"):
        load_faces(tmp_path / "doc.pdf")


def test_load_faces_options(tmp_path):
    # Defaults of any loader are ignored where they do not apply (the CLI passes them all).
    assert len(load_faces("sample", size=(62, 47), color=False, min_faces_per_person=0)) > 0
    assert len(load_faces("sample", size=None, progress=True, crop=[70, 195, 78, 172])) > 0
    assert len(load_faces("sample", progress=False, cache=False, strict=False)) > 0
    with pytest.raises(ValueError, match=r"color=True does not apply to the embedded"):
        load_faces("sample", color=True)
    with pytest.raises(ValueError, match="min_faces_per_person=5 does not apply to an image"):
        load_faces(tmp_path, min_faces_per_person=5)
    with pytest.raises(TypeError, match="unknown option colour"):
        load_faces("sample", colour=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lfw = tiny_lfw(tmp_path)
        data = load_faces(lfw, min_faces_per_person=2, progress=False, recursive=True)
    assert data.target_names == ("Anna_Alpha",)


def test_sample_subsets_like_lfw():
    full = load_sample()
    counts = np.bincount(full.targets)
    many = load_sample(min_faces_per_person=20)
    assert len(many) == int(counts[counts >= 20].sum())
    assert len(many.target_names) == int((counts >= 20).sum())
    assert all(f.split("/")[0] in many.target_names for f in many.files)
    a, b = load_sample(max_faces=300, seed=1), load_sample(max_faces=300, seed=1)
    assert len(a) == 300 and a.files == b.files and a.files != load_sample(max_faces=300, seed=2).files
    assert set(a.files) <= set(full.files)
    with pytest.raises(ValueError, match="min_faces_per_person=1000 leaves no people"):
        load_sample(min_faces_per_person=1000)
    # the CLI's --data sample takes the same options through load_faces
    assert len(load_faces("sample", max_faces=50)) == 50
