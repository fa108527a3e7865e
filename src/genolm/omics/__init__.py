"""genolm.omics: expression-based classification and knowledge-graph link prediction.

Expression: :func:`train_expression`, :func:`predict_expression`, :func:`evaluate_expression`.
Knowledge graph: :func:`train_kg`, :func:`score_pairs`, :func:`predict_links`.
"""
from genolm.omics.expression import evaluate_expression, predict_expression, train_expression
from genolm.omics.linkpred import predict_links, score_pairs, train_kg

__all__ = ["train_expression", "predict_expression", "evaluate_expression", "train_kg", "score_pairs",
           "predict_links"]
