"""Measuring what a model learned: reconstruction, likelihood, LFW identification and verification."""

from .density import ais_heldout_log_likelihood, log_jacobian_to_unit_pixels, ppca_reference
from .features import hidden_features, train_rbm
from .identify import eigenfaces_svm, identification_split, identification_task, logistic_identification
from .reconstruction import free_energy_gap, psnr, reconstruction_errors
from .report import markdown_report
from .verify import (
    Similarity,
    best_threshold,
    cosine_scores,
    evaluate_view2,
    fold_training_mask,
    similarity_transform,
    verification_accuracy,
)

__all__ = [
    "Similarity",
    "ais_heldout_log_likelihood",
    "best_threshold",
    "cosine_scores",
    "eigenfaces_svm",
    "evaluate_view2",
    "fold_training_mask",
    "free_energy_gap",
    "hidden_features",
    "identification_split",
    "identification_task",
    "log_jacobian_to_unit_pixels",
    "logistic_identification",
    "markdown_report",
    "ppca_reference",
    "psnr",
    "reconstruction_errors",
    "similarity_transform",
    "train_rbm",
    "verification_accuracy",
]
