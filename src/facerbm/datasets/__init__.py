"""Face data sets as ``FaceData``: LFW, image folders, arrays, Olivetti, Frey, the sample."""

from .base import FaceData, cache_home
from .dispatch import load_faces
from .folder import load_array, load_image_folder
from .lfw import LFW, load_lfw
from .mat import load_frey, load_olivetti
from .pairs import PairIndex, Pairs, lfw_file, read_pairs, read_people
from .sample import load_sample

__all__ = [
    "LFW",
    "FaceData",
    "PairIndex",
    "Pairs",
    "cache_home",
    "load_array",
    "load_faces",
    "load_frey",
    "load_image_folder",
    "load_lfw",
    "load_olivetti",
    "lfw_file",
    "load_sample",
    "read_pairs",
    "read_people",
]
