"""genolm.omics: expression-based classification and knowledge-graph link prediction.

Expression: :func:`train_classifier` (``train(train, out, *, label_col, valid=None, ...)``),
:func:`predict_expression`, :func:`evaluate_expression`.
Link prediction: :func:`train_linkpred` (``train(train, out, *, nodes, targets, valid=None, ...)``),
:func:`score_pairs`, :func:`predict_links`. ``genolm.load(run_dir)`` gives a predictor for either.
``train_expression(matrix, label_col, out, ...)`` and ``train_kg(nodes, edges, targets, out, ...)`` are the
older argument orders, kept for scripts.
"""

from genolm.omics.expression import evaluate_expression, predict_expression, train_expression
from genolm.omics.expression import train as train_classifier
from genolm.omics.linkpred import predict_links, score_pairs, train_kg
from genolm.omics.linkpred import train as train_linkpred

__all__ = [
    "train_classifier",
    "predict_expression",
    "evaluate_expression",
    "train_linkpred",
    "score_pairs",
    "predict_links",
    "train_expression",
    "train_kg",
]
