"""LFW protocol files on tiny synthetic copies: View 1/2 pairs, people sets, image lookup, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facerbm.datasets import lfw_file, read_pairs, read_people

# Two folds of 2 matched + 2 mismatched pairs, tab-separated like the real pairs.txt.
VIEW2 = """2\t2
Ann\t1\t2
Bob\t1\t3
Ann\t1\tCid\t1
Bob\t2\tDee\t1
Eve\t1\t2
Fay\t2\t3
Eve\t3\tGus\t1
Fay\t1\tHal\t2
"""


def write(tmp_path: Path, text: str, name: str = "pairs.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_view2_pairs_are_read_fold_by_fold(tmp_path):
    p = read_pairs(write(tmp_path, VIEW2))
    assert len(p) == 8 and p.n_folds == 2
    assert p.matched.tolist() == [True, True, False, False] * 2
    assert p.fold.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert p.name1[0] == p.name2[0] == "Ann" and (p.num1[0], p.num2[0]) == (1, 2)
    assert (p.name1[2], p.num1[2], p.name2[2], p.num2[2]) == ("Ann", 1, "Cid", 1)
    assert p.line.tolist() == list(range(2, 10))
    assert p.files1[3] == "Bob/Bob_0002.jpg" and p.files2[3] == "Dee/Dee_0001.jpg"
    assert p.people_of_fold(0) == {"Ann", "Bob", "Cid", "Dee"}
    assert p.people_of_fold(1) == {"Eve", "Fay", "Gus", "Hal"}
    with pytest.raises(ValueError, match="fold must be in"):
        p.people_of_fold(2)


def test_view1_pairs_are_one_fold(tmp_path):
    p = read_pairs(write(tmp_path, "2\nAnn 1 2\nBob 1 3\nAnn 1 Cid 1\nBob 2 Dee 1\n"))
    assert p.n_folds == 1 and p.matched.tolist() == [True, True, False, False]


def test_lfw_file_names_images_like_the_loader():
    assert lfw_file("George_W_Bush", 1) == "George_W_Bush/George_W_Bush_0001.jpg"
    assert lfw_file("X", 1234) == "X/X_1234.jpg"


def test_index_maps_pairs_onto_images_and_names_a_missing_one(tmp_path):
    p = read_pairs(write(tmp_path, VIEW2))
    files = sorted({*p.files1, *p.files2})
    ix = p.index(files)
    assert [files[i] for i in ix.first] == list(p.files1)
    assert [files[i] for i in ix.second] == list(p.files2)
    assert ix.matched.tolist() == p.matched.tolist() and ix.fold.tolist() == p.fold.tolist()
    missing = [f for f in files if f != "Dee/Dee_0001.jpg"]
    with pytest.raises(ValueError, match=r"pairs\.txt line 5: image Dee/Dee_0001\.jpg is not among"):
        p.index(missing)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("2 2\nAnn 1 2\nBob 1\n" + "\n".join(VIEW2.splitlines()[3:]), 3, "a matched pair must be"),
        (VIEW2.replace("Ann\t1\tCid\t1", "Ann\t1\tCid"), 4, "a mismatched pair must be 'name1 n1 name2 n2'"),
        (VIEW2.replace("Bob\t1\t3", "Bob\tone\t3"), 3, "image numbers must be positive integers"),
        (VIEW2.replace("Bob\t1\t3", "Bob\t0\t3"), 3, "image numbers must be positive integers"),
        (VIEW2.replace("Ann\t1\tCid\t1", "Ann\t1\tAnn\t3"), 4, "names one person twice"),
        (VIEW2.replace("2\t2", "2\tx", 1), 1, "the number of pairs per fold must be"),
        (VIEW2.replace("2\t2", "2 2 2", 1), 1, "expected a header"),
    ],
)
def test_malformed_pairs_name_the_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=rf"pairs\.txt line {line}: .*{message}"):
        read_pairs(path)


def test_pair_count_differing_from_the_header_is_an_error(tmp_path):
    with pytest.raises(ValueError, match=r"pairs\.txt: the header \(line 1\) announces 2 fold\(s\).*has 7"):
        read_pairs(write(tmp_path, VIEW2.rsplit("\n", 2)[0] + "\n"))
    with pytest.raises(ValueError, match="is empty"):
        read_pairs(write(tmp_path, "\n"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_pairs(tmp_path / "nope.txt")


def test_people_files_view2_sets_and_view1_list(tmp_path):
    sets = read_people(write(tmp_path, "2\n2\nAnn 2\nBob 3\n1\nEve\t4\n", "people.txt"))
    assert sets == [[("Ann", 2), ("Bob", 3)], [("Eve", 4)]]
    one = read_people(write(tmp_path, "3\nAnn 2\nBob 3\nCid 1\n", "peopleDevTrain.txt"))
    assert one == [[("Ann", 2), ("Bob", 3), ("Cid", 1)]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("2\n2\nAnn 2\nBob\n1\nEve 4\n", r"line 4: expected 'name count'"),
        ("2\n2\nAnn 2\nBob x\n1\nEve 4\n", r"line 4: image numbers must be positive"),
        ("2\n2\nAnn 2\nBob 3\n", r"the file ends before set 2 of 2"),
        ("2\n3\nAnn 2\nBob 3\n", r"the file ends inside set 1"),
        ("2\nAnn 2\nBob 3\nCid 1\n", r"line 4: unexpected line after the last set"),
        ("a b\nAnn 2\n", r"line 1: expected a count"),
    ],
)
def test_malformed_people_name_the_file_and_line(tmp_path, text, message):
    with pytest.raises(ValueError, match=rf"people\.txt.*{message}"):
        read_people(write(tmp_path, text, "people.txt"))


SHARED_META = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw-meta"


@pytest.mark.lfw
@pytest.mark.skipif(not (SHARED_META / "pairs.txt").is_file(), reason=f"no LFW pairs.txt in {SHARED_META}")
def test_the_real_view2_files_parse_and_folds_are_person_disjoint():
    p = read_pairs(SHARED_META / "pairs.txt")
    assert len(p) == 6000 and p.n_folds == 10 and int(p.matched.sum()) == 3000
    folds = [p.people_of_fold(k) for k in range(10)]
    assert all(not (a & b) for i, a in enumerate(folds) for b in folds[i + 1 :])
    sets = read_people(SHARED_META / "people.txt")
    assert len(sets) == 10 and all(len(s) > 500 for s in sets)
    assert np.all(p.num1 >= 1) and np.all(p.num2 >= 1)
