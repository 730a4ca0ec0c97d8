"""LFW's protocol files: image pairs (``pairs.txt``, View 1 and 2) and people lists (``people.txt``).

Formats (Huang et al. 2007, "Labeled Faces in the Wild", technical report 07-49, §4), tab- or
space-separated:

* ``pairs.txt`` (View 2): a header ``10 300`` (folds, pairs of each kind per fold), then per fold
  300 matched pairs ``name n1 n2`` followed by 300 mismatched pairs ``name1 n1 name2 n2``.
* ``pairsDevTrain.txt`` / ``pairsDevTest.txt`` (View 1): a header ``1100``, then that many matched
  and that many mismatched pairs: read as one fold.
* ``people.txt`` (View 2): ``10``, then per set a count line and ``name count`` lines;
  ``peopleDevTrain.txt`` (View 1): a count line, then ``name count`` lines.

Image ``n`` of person ``name`` is the file ``name/name_000n.jpg`` (`lfw_file`), as in
`facerbm.datasets.FaceData.files`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PairIndex", "Pairs", "lfw_file", "read_pairs", "read_people"]


def lfw_file(name: str, number: int) -> str:
    """The LFW image id of image ``number`` (1-based) of ``name``: ``"name/name_000n.jpg"``."""
    return f"{name}/{name}_{number:04d}.jpg"


@dataclass(frozen=True, eq=False)
class Pairs:
    """Image pairs of an LFW protocol file, as parallel arrays of P pairs.

    Attributes:
        name1, name2: (P,) person of the first and second image (equal for matched pairs).
        num1, num2: (P,) int64 image numbers, 1-based as in the file.
        matched: (P,) bool, True when both images show the same person.
        fold: (P,) int64 fold of each pair, 0-based (all 0 for a View 1 file).
        line: (P,) int64 line of each pair in the file, 1-based, for messages.
        source: the file read.
    """

    name1: tuple[str, ...]
    num1: np.ndarray
    name2: tuple[str, ...]
    num2: np.ndarray
    matched: np.ndarray
    fold: np.ndarray
    line: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.name1)

    @property
    def n_folds(self) -> int:
        return int(self.fold.max()) + 1 if len(self) else 0

    @property
    def files1(self) -> tuple[str, ...]:
        return tuple(lfw_file(n, int(i)) for n, i in zip(self.name1, self.num1, strict=True))

    @property
    def files2(self) -> tuple[str, ...]:
        return tuple(lfw_file(n, int(i)) for n, i in zip(self.name2, self.num2, strict=True))

    def people_of_fold(self, k: int) -> set[str]:
        """Everyone who appears in a pair (matched or mismatched) of fold ``k`` (0-based)."""
        if not 0 <= k < self.n_folds:
            raise ValueError(f"fold must be in [0, {self.n_folds - 1}], got {k!r}")
        sel = np.flatnonzero(self.fold == k)
        return {self.name1[i] for i in sel} | {self.name2[i] for i in sel}

    def index(self, files: Sequence[str]) -> PairIndex:
        """Map the pairs onto images: positions of both images of each pair in ``files``.

        Args:
            files: image ids like ``FaceData.files`` (``"name/name_000n.jpg"``).

        Raises:
            ValueError: an image of a pair is not in ``files``, naming the file and line.
        """
        where = {f: i for i, f in enumerate(files)}
        out = []
        for names, nums in ((self.name1, self.num1), (self.name2, self.num2)):
            idx = np.empty(len(self), dtype=np.int64)
            for p, (name, num) in enumerate(zip(names, nums, strict=True)):
                f = lfw_file(name, int(num))
                if f not in where:
                    raise ValueError(
                        f"{self.source} line {int(self.line[p])}: image {f} is not among the "
                        f"{len(files)} loaded LFW images (a different LFW release, or a subset?)"
                    )
                idx[p] = where[f]
            out.append(idx)
        return PairIndex(out[0], out[1], self.matched.copy(), self.fold.copy())


@dataclass(frozen=True, eq=False)
class PairIndex:
    """Pairs as positions into an image array: ``first``, ``second`` (P,) int64, ``matched`` (P,)
    bool, ``fold`` (P,) int64 (0-based)."""

    first: np.ndarray
    second: np.ndarray
    matched: np.ndarray
    fold: np.ndarray

    def __len__(self) -> int:
        return len(self.first)

    def select(self, mask: np.ndarray) -> PairIndex:
        return PairIndex(self.first[mask], self.second[mask], self.matched[mask], self.fold[mask])


# -- parsing --------------------------------------------------------------------------------------
def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-empty line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"LFW protocol file {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not a UTF-8 text file ({e})") from None
    return [(i, ln.split()) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]


def _count(path: Path, lineno: int, text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{path} line {lineno}: {what} must be a non-negative integer, got {text!r}")
    return value


def _image_number(path: Path, lineno: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{path} line {lineno}: image numbers must be positive integers, got {text!r}")
    return value


def read_pairs(path: str | os.PathLike) -> Pairs:
    """Read an LFW pairs file: View 2 ``pairs.txt`` (10 folds) or View 1 ``pairsDev*.txt`` (1 fold).

    Returns:
        `Pairs`; within a fold the matched pairs come first, as in the file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed header or pair line, a wrong number of pairs, or a "mismatched"
            pair of one person; the message names the file and the line.
    """
    path = Path(path)
    lines = _lines(path)
    if not lines:
        raise ValueError(f"{path} is empty; expected an LFW pairs file (header '10 300' or '1100')")
    head_no, head = lines[0]
    if len(head) == 2:
        n_folds = _count(path, head_no, head[0], "the number of folds")
        per_fold = _count(path, head_no, head[1], "the number of pairs per fold")
    elif len(head) == 1:
        n_folds, per_fold = 1, _count(path, head_no, head[0], "the number of pairs")
    else:
        raise ValueError(
            f"{path} line {head_no}: expected a header 'FOLDS PAIRS' (View 2, e.g. '10 300') or "
            f"'PAIRS' (View 1, e.g. '1100'), got {' '.join(head)!r}"
        )
    expected = n_folds * 2 * per_fold
    body = lines[1:]
    if len(body) != expected:
        raise ValueError(
            f"{path}: the header (line {head_no}) announces {n_folds} fold(s) of {per_fold} matched + "
            f"{per_fold} mismatched pairs = {expected} pair lines, but the file has {len(body)}"
        )
    name1, num1, name2, num2, matched, fold, line_nos = [], [], [], [], [], [], []
    for j, (lineno, fields) in enumerate(body):
        is_matched = (j % (2 * per_fold)) < per_fold
        if is_matched:
            if len(fields) != 3:
                raise ValueError(
                    f"{path} line {lineno}: a matched pair must be 'name n1 n2', got {' '.join(fields)!r}"
                )
            a, i, k = fields
            b = a
        else:
            if len(fields) != 4:
                raise ValueError(
                    f"{path} line {lineno}: a mismatched pair must be 'name1 n1 name2 n2', "
                    f"got {' '.join(fields)!r}"
                )
            a, i, b, k = fields
            if a == b:
                raise ValueError(f"{path} line {lineno}: a mismatched pair names one person twice ({a})")
        name1.append(a)
        name2.append(b)
        num1.append(_image_number(path, lineno, i))
        num2.append(_image_number(path, lineno, k))
        matched.append(is_matched)
        fold.append(j // (2 * per_fold))
        line_nos.append(lineno)
    return Pairs(
        name1=tuple(name1),
        num1=np.asarray(num1, dtype=np.int64),
        name2=tuple(name2),
        num2=np.asarray(num2, dtype=np.int64),
        matched=np.asarray(matched, dtype=bool),
        fold=np.asarray(fold, dtype=np.int64),
        line=np.asarray(line_nos, dtype=np.int64),
        source=str(path),
    )


def read_people(path: str | os.PathLike) -> list[list[tuple[str, int]]]:
    """Read an LFW people file: View 2 ``people.txt`` (10 sets) or View 1 ``peopleDev*.txt`` (1 set).

    Returns:
        one list per set of (name, number of images) in file order.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a malformed line or a set with fewer or more people than its count line says;
            the message names the file and the line.
    """
    path = Path(path)
    lines = _lines(path)
    if not lines:
        raise ValueError(f"{path} is empty; expected an LFW people file")
    head_no, head = lines[0]
    if len(head) != 1:
        raise ValueError(f"{path} line {head_no}: expected a count on its own, got {' '.join(head)!r}")
    first = _count(path, head_no, head[0], "the count")
    # View 2 starts with the number of sets followed by a count line; View 1 with names at once.
    multi = len(lines) > 1 and len(lines[1][1]) == 1
    pos = 1
    sets = []
    for _ in range(first if multi else 1):
        if multi:
            if pos >= len(lines):
                raise ValueError(f"{path}: the file ends before set {len(sets) + 1} of {first}")
            no, fields = lines[pos]
            if len(fields) != 1:
                raise ValueError(
                    f"{path} line {no}: expected the count of set {len(sets) + 1}, got {' '.join(fields)!r}"
                )
            count = _count(path, no, fields[0], "the count of a set")
            pos += 1
        else:
            count = first
        people = []
        for _ in range(count):
            if pos >= len(lines):
                raise ValueError(
                    f"{path}: the file ends inside set {len(sets) + 1} ({len(people)} of {count} people read)"
                )
            no, fields = lines[pos]
            if len(fields) != 2:
                raise ValueError(f"{path} line {no}: expected 'name count', got {' '.join(fields)!r}")
            people.append((fields[0], _image_number(path, no, fields[1])))
            pos += 1
        sets.append(people)
    if pos != len(lines):
        raise ValueError(
            f"{path} line {lines[pos][0]}: unexpected line after the last set ({' '.join(lines[pos][1])!r})"
        )
    return sets
