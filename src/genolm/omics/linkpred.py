"""Knowledge-graph link prediction: which compounds treat a disease, which genes a disease is associated
with, which genes a compound binds.

>>> from genolm.omics.linkpred import train, score_pairs, predict_links
>>> train("edges_train.tsv", "runs/kg", nodes="nodes.tsv", targets="CtD,DaG,CbG", valid="edges_dev.tsv")
>>> score_pairs("runs/kg", "pairs.tsv", "scored.tsv")
>>> predict_links("runs/kg", "Disease::DOID:1612", "CtD", top=20)
>>> import genolm; genolm.load("runs/kg").predict([("Compound::DB00091", "Disease::DOID:1612")], metaedge="CtD")

Method (chosen on the dev split, see docs/benchmarks/omics.md): for every target metaedge, a learned
combiner (gradient-boosted trees by default) over graph features of a (source, target) pair: degree-
weighted path counts along all metapaths of length <= 3 and per-metaedge degrees of both ends. The
combiner is trained by cross-fitting: the target edges are split into folds and each fold's edges are
scored on the graph without them, against uniform type-constrained random negatives (same kinds, not a
known edge), so training features look like those of unseen edges.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genolm.core.loading import find_model_dir
from genolm.core.metrics import auprc, auroc
from genolm.core.persist import load_estimator, save_estimator
from genolm.core.progress import progress
from genolm.io.atomic import atomic_open, atomic_path
from genolm.io.errors import InputError, UsageError
from genolm.omics.files import refuse_old_files
from genolm.omics.graph import Graph, Metaedge, read_edges, read_nodes, sample_negatives

log = logging.getLogger("genolm.omics")

COMBINERS = ("hgb", "logistic")
FORMAT = "genolm.omics.kg/1"
#: a file only a link-prediction model folder has (genolm.load picks the loader by it)
MARKER = "graph.safetensors"


def _make_combiner(name: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    if name == "hgb":
        return HistGradientBoostingClassifier(
            max_iter=150,
            learning_rate=0.1,
            max_leaf_nodes=31,
            l2_regularization=1.0,
            early_stopping=False,
            random_state=seed,
        )
    if name == "logistic":
        return make_pipeline(
            FunctionTransformer(np.arcsinh), StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)
        )
    raise UsageError(f"unknown --combiner {name!r}; choose one of {', '.join(COMBINERS)}")


def _one_thread():
    """OpenMP on one thread: on a shared, oversubscribed CPU, the trees' parallel regions spin-wait for
    descheduled threads and run many times slower than a single thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


def _local_pairs(graph: Graph, edges: pd.DataFrame, metaedge: str) -> tuple[np.ndarray, np.ndarray]:
    sel = edges[edges["metaedge"] == metaedge]
    s = graph.local[[graph.index[x] for x in sel["source"]]] if len(sel) else np.zeros(0, np.int64)
    t = graph.local[[graph.index[x] for x in sel["target"]]] if len(sel) else np.zeros(0, np.int64)
    return np.asarray(s, np.int64), np.asarray(t, np.int64)


def _auroc_ap(y: np.ndarray, s: np.ndarray) -> dict:
    return {"auroc": auroc(y, s), "auprc": auprc(y, s)}


def train(
    train: str | os.PathLike,
    out: str | os.PathLike,
    *,
    nodes: str | os.PathLike,
    targets: str | list[str],
    valid: str | os.PathLike | None = None,
    combiner: str = "hgb",
    folds: int = 5,
    neg_ratio: int = 5,
    max_path_length: int = 3,
    damping: float = 0.4,
    time_budget: str | float | None = "25m",
    seed: int = 0,
    refit_with_valid: bool = True,
    overwrite: bool = False,
) -> dict:
    """Train one link predictor per target metaedge and write a run directory (model/, metrics.json, report).

    ``train``: the training edges TSV (``source, metaedge, target``); ``nodes``: the nodes TSV (``id, name,
    kind``); ``targets``: metaedges to predict ("CtD,DaG,CbG" or a list); ``valid``: held-out edges (dev
    metrics, then added to the saved graph with ``refit_with_valid``). ``time_budget`` ("25m" or seconds)
    stops the cross-fitting fold loop early when needed.
    """
    from genolm.core.runs import RunDir, parse_duration, set_seed

    t0 = time.time()
    edges = train
    time_budget = parse_duration(time_budget)
    if isinstance(targets, str):
        targets = targets.split(",")
    if folds < 2:
        raise UsageError("--folds must be at least 2")
    if neg_ratio < 1:
        raise UsageError("--neg-ratio must be at least 1")
    if max_path_length not in (1, 2, 3):
        raise UsageError("--max-path-length must be 1, 2 or 3")
    _make_combiner(combiner, seed)
    node_df = read_nodes(nodes)
    index = {n: i for i, n in enumerate(node_df["id"])}
    train_edges = read_edges(edges, index)
    valid_edges = read_edges(valid, index) if valid else None
    graph = Graph(node_df, train_edges, edges_path=str(edges))
    targets = [t.strip() for t in targets if t.strip()]
    if not targets:
        raise UsageError("--targets needs at least one metaedge, e.g. CtD,DaG,CbG")
    for t in targets:
        if t not in graph.metaedges:
            raise UsageError(
                f"target metaedge {t!r} has no edges in {edges}; found {', '.join(sorted(graph.metaedges))}"
            )
    if valid_edges is not None:
        Graph(node_df, valid_edges, metaedges=graph.metaedges, edges_path=str(valid))  # validates kinds
    config = {
        "nodes": str(nodes),
        "edges": str(edges),
        "valid": str(valid) if valid else None,
        "targets": targets,
        "combiner": combiner,
        "folds": folds,
        "neg_ratio": neg_ratio,
        "max_path_length": max_path_length,
        "damping": damping,
        "seed": seed,
        "time_budget_s": time_budget,
        "refit_with_valid": refit_with_valid,
    }
    set_seed(seed)
    out = Path(out)
    metrics: dict = {"targets": {}}
    models, curves, importances, paths_of = {}, {}, {}, {}
    with RunDir(
        out, command="linkpred train", config=config, inputs=[nodes, edges, valid], seed=seed, overwrite=overwrite
    ) as run:
        for ti, target in enumerate(targets):
            rng = np.random.default_rng([seed, ti])
            me = graph.metaedges[target]
            paths = graph.metapaths(target, max_length=max_path_length)
            paths_of[target] = paths
            s_pos, t_pos = _local_pairs(graph, train_edges, target)
            forbidden = set(zip(s_pos.tolist(), t_pos.tolist()))
            if valid_edges is not None:
                vs, vt = _local_pairs(graph, valid_edges, target)
                forbidden |= set(zip(vs.tolist(), vt.tolist()))
            n_s, n_t = len(graph.members[me.source_kind]), len(graph.members[me.target_kind])
            fold_of = rng.permutation(len(s_pos)) % folds
            X_parts, y_parts = [], []
            for k in progress(range(folds), total=folds, desc=f"{target} folds", unit="fold"):
                held = fold_of == k
                g_k = graph.with_edges_removed(target, s_pos[held], t_pos[held])
                ns, nt = sample_negatives(neg_ratio * int(held.sum()), n_s, n_t, forbidden, rng)
                X_parts.append(
                    g_k.pair_features(
                        target, np.concatenate([s_pos[held], ns]), np.concatenate([t_pos[held], nt]), paths, damping
                    )
                )
                y_parts.append(np.r_[np.ones(int(held.sum())), np.zeros(len(ns))])
                if time_budget and time.time() - t0 > 0.8 * time_budget:
                    log.warning("time budget nearly spent: %s uses %d of %d folds", target, k + 1, folds)
                    break
            X, y = np.vstack(X_parts), np.concatenate(y_parts)
            with _one_thread():
                model = _make_combiner(combiner, seed).fit(X, y)
            models[target] = model
            names = graph.feature_names(target, paths)
            entry = {
                "train_positives": int(len(s_pos)),
                "features": len(names),
                "metapaths": len(paths),
                "combiner_rows": int(len(y)),
            }
            if valid_edges is not None and len(vs):
                ns, nt = sample_negatives(neg_ratio * len(vs), n_s, n_t, forbidden, rng)
                Xv = graph.pair_features(target, np.r_[vs, ns], np.r_[vt, nt], paths, damping)
                yv = np.r_[np.ones(len(vs)), np.zeros(len(ns))]
                sv = model.predict_proba(Xv)[:, 1]
                entry["valid"] = {"positives": int(len(vs)), "negatives": int(len(ns)), **_auroc_ap(yv, sv)}
                # baseline in the same run: preferential attachment (product of the ends' target-metaedge degrees)
                deg_s = np.asarray(graph.adj[target].sum(axis=1)).ravel()
                deg_t = np.asarray(graph.adj[target].sum(axis=0)).ravel()
                pa = deg_s[np.r_[vs, ns]] * deg_t[np.r_[vt, nt]]
                entry["valid_baseline_degree_product"] = _auroc_ap(yv, pa)
                curves[target] = (yv, sv)
                importances[target] = _importance(model, Xv, yv, names, seed)
                log.info(
                    "%s valid AUROC %.4f (degree-product baseline %.4f)",
                    target,
                    entry["valid"]["auroc"],
                    entry["valid_baseline_degree_product"]["auroc"],
                )
            metrics["targets"][target] = entry
        final_edges = train_edges
        if refit_with_valid and valid_edges is not None:
            final_edges = pd.concat([train_edges, valid_edges], ignore_index=True)
        final_graph = Graph(node_df, final_edges, metaedges=graph.metaedges, edges_path=str(edges))
        _save(run.model_dir, final_graph, final_edges, models, paths_of, config)
        metrics["seconds"] = round(time.time() - t0, 1)
        run.write_metrics(metrics)
        from genolm.omics.report import kg_report

        kg_report(run.path / "report.html", metrics, curves, importances)
    return metrics


def train_kg(
    nodes: str | os.PathLike, edges: str | os.PathLike, targets: str | list[str], out: str | os.PathLike, **kwargs
) -> dict:
    """:func:`train` with the older argument order ``(nodes, edges, targets, out, ...)`` (kept for scripts)."""
    return train(edges, out, nodes=nodes, targets=targets, **kwargs)


def _importance(model, X, y, names, seed, limit: int = 30, rows: int = 3000) -> pd.DataFrame:
    """Permutation importance: the validation AUROC lost when one feature's column is shuffled
    (checked for the ``limit`` features that vary most)."""
    rng = np.random.default_rng(seed)
    if len(y) > rows:
        keep = rng.choice(len(y), rows, replace=False)
        X, y = X[keep], y[keep]
    base = auroc(y, model.predict_proba(X)[:, 1])
    spread = (X != X[0]).sum(axis=0)
    cand = np.argsort(-spread, kind="stable")[:limit]
    drops = []
    for j in cand:
        Xp = X.copy()
        Xp[:, j] = rng.permutation(Xp[:, j])
        drops.append(base - auroc(y, model.predict_proba(Xp)[:, 1]))
    df = pd.DataFrame({"feature": [names[j] for j in cand], "auroc_drop": np.round(drops, 5)})
    return df.sort_values("auroc_drop", ascending=False, kind="stable").reset_index(drop=True)


# -- persistence --------------------------------------------------------------------------------------------
def _save(directory: Path, graph: Graph, edges: pd.DataFrame, models: dict, paths_of: dict, config: dict) -> None:
    from safetensors.numpy import save_file

    with atomic_path(directory) as tmp:
        tmp.mkdir(parents=True)
        graph.nodes[["id", "name", "kind"]].to_parquet(tmp / "nodes.parquet", index=False)
        codes = sorted(graph.metaedges)
        code_of = {m: i for i, m in enumerate(codes)}
        save_file(
            {
                "source": np.array([graph.index[s] for s in edges["source"]], dtype=np.int64),
                "target": np.array([graph.index[t] for t in edges["target"]], dtype=np.int64),
                "metaedge": np.array([code_of[m] for m in edges["metaedge"]], dtype=np.int64),
            },
            str(tmp / MARKER),
        )
        for target, model in models.items():
            save_estimator(model, tmp / f"combiner_{target}.skops")
        meta = {
            "format": FORMAT,
            "metaedge_codes": codes,
            "metaedges": {m: [e.source_kind, e.target_kind] for m, e in graph.metaedges.items()},
            "targets": list(models),
            "metapaths": {t: [[[m, fwd] for m, fwd in p] for p in ps] for t, ps in paths_of.items()},
            "feature_names": {t: graph.feature_names(t, ps) for t, ps in paths_of.items()},
            "damping": config["damping"],
            "combiner": config["combiner"],
        }
        (tmp / "config.json").write_text(json.dumps(meta, indent=1))


class LinkPredictor:
    """A trained KG model: the graph it scores on and one combiner per target metaedge."""

    def __init__(self, model: str | os.PathLike):
        from safetensors.numpy import load_file

        d = find_model_dir(model, marker=MARKER, what="link-prediction model")
        refuse_old_files(d, sorted({f.stem for f in d.glob("combiner_*") if f.suffix != ".skops"}))
        try:
            meta = json.loads((d / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"corrupt or missing config.json ({e})", d / "config.json") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InputError("not a link-prediction model (wrong format)", d / "config.json")
        self.path = d
        self.meta = meta
        nodes = pd.read_parquet(d / "nodes.parquet")
        arr = load_file(str(d / MARKER))
        codes = np.array(meta["metaedge_codes"], dtype=object)
        edges = pd.DataFrame(
            {
                "source": nodes["id"].to_numpy()[arr["source"]],
                "metaedge": codes[arr["metaedge"]],
                "target": nodes["id"].to_numpy()[arr["target"]],
            }
        )
        metaedges = {m: Metaedge(m, k[0], k[1]) for m, k in meta["metaedges"].items()}
        self.graph = Graph(nodes, edges, metaedges=metaedges)
        self.paths = {t: [tuple((m, bool(f)) for m, f in p) for p in ps] for t, ps in meta["metapaths"].items()}
        self.models = {t: load_estimator(d / f"combiner_{t}.skops") for t in meta["targets"]}
        self.damping = meta["damping"]
        self._names_lower: dict[str, list[int]] | None = None

    @property
    def targets(self) -> list[str]:
        return list(self.models)

    def score_local(self, target: str, s_local: np.ndarray, t_local: np.ndarray, batch: int = 20000) -> np.ndarray:
        out = np.zeros(len(s_local))
        for i in range(0, len(s_local), batch):
            X = self.graph.pair_features(
                target, s_local[i : i + batch], t_local[i : i + batch], self.paths[target], self.damping
            )
            out[i : i + batch] = self.models[target].predict_proba(X)[:, 1]
        return out

    def resolve(self, text: str, kinds: tuple[str, ...] = ()) -> int:
        """A node id (``Disease::DOID:1612``) or a case-insensitive name (``breast cancer``), unique among
        the nodes of ``kinds`` when given (names repeat across kinds: a Disease and a Side Effect)."""
        if text in self.graph.index:
            return self.graph.index[text]
        if self._names_lower is None:
            self._names_lower = {}
            for i, n in enumerate(self.graph.nodes["name"].astype(str)):
                self._names_lower.setdefault(n.lower(), []).append(i)
        hits = self._names_lower.get(text.strip().lower(), [])
        of_kind = [h for h in hits if self.graph.kind_of[h] in kinds]
        hits = of_kind or hits
        if not hits:
            raise UsageError(f"no node with id or name {text!r}")
        if len(hits) > 1:
            raise UsageError(f"name {text!r} is ambiguous: {', '.join(self.graph.ids[hits][:5])}; use a node id")
        return hits[0]


def _predictor(model) -> LinkPredictor:
    return model if isinstance(model, LinkPredictor) else LinkPredictor(model)


def score_pairs(
    model: str | os.PathLike | LinkPredictor, pairs: str | os.PathLike, out: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Add ``score`` (probability-like, higher = more likely an edge) and ``reason`` (why a row has no
    score) to a ``source metaedge target`` TSV; input order and extra columns preserved. Written to
    ``out`` (TSV) when given: what `genolm linkpred score` writes."""
    df = score_frame(_predictor(model), _read_pairs(pairs))
    if out is not None:
        with atomic_open(out, "w", newline="") as fh:
            df.to_csv(fh, sep="\t", index=False, na_rep="")
    return df


def score_frame(lp: LinkPredictor, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (source, metaedge, target and any other columns, as strings) + ``score`` + ``reason``."""
    g = lp.graph
    score = np.full(len(df), np.nan)
    reason = np.array([""] * len(df), dtype=object)
    groups: dict[str, list[int]] = {}
    for i, (s, m, t) in enumerate(zip(df["source"], df["metaedge"], df["target"])):
        if m not in lp.models:
            reason[i] = f"metaedge {m!r} not trained (model has {', '.join(lp.targets)})"
        elif s not in g.index:
            reason[i] = f"unknown source node {s!r}"
        elif t not in g.index:
            reason[i] = f"unknown target node {t!r}"
        else:
            me = g.metaedges[m]
            if g.kind_of[g.index[s]] != me.source_kind or g.kind_of[g.index[t]] != me.target_kind:
                reason[i] = (
                    f"{m} joins {me.source_kind} -> {me.target_kind}, not {g.kind_of[g.index[s]]} -> "
                    f"{g.kind_of[g.index[t]]}"
                )
            else:
                groups.setdefault(m, []).append(i)
    for m, rows in groups.items():
        rows = np.array(rows)
        s_loc = g.local[[g.index[x] for x in df["source"].to_numpy()[rows]]]
        t_loc = g.local[[g.index[x] for x in df["target"].to_numpy()[rows]]]
        score[rows] = lp.score_local(m, s_loc, t_loc)
    df = df.copy()
    df["score"] = np.round(score, 6)
    df["reason"] = reason
    return df


def _read_pairs(path: str | os.PathLike) -> pd.DataFrame:
    from genolm.io.tables import read_table

    df = read_table(path, required=["source", "metaedge", "target"], sep="\t", dtype=str)
    for col in ("source", "metaedge", "target"):
        df[col] = df[col].fillna("")
    return df


def predict_links(
    model: str | os.PathLike | LinkPredictor, node: str, metaedge: str, top: int = 20, novel_only: bool = False
) -> pd.DataFrame:
    """The ``top`` partners of ``node`` for ``metaedge``: the node may sit on either side (a disease for CtD
    gives compounds; a compound gives diseases). Columns: rank, source, source_name, metaedge, target,
    target_name, score, known (already an edge in the model's graph)."""
    lp = _predictor(model)
    if metaedge not in lp.models:
        raise UsageError(f"metaedge {metaedge!r} not trained; the model has {', '.join(lp.targets)}")
    if top < 1:
        raise UsageError("--top must be at least 1")
    g = lp.graph
    me = g.metaedges[metaedge]
    i = lp.resolve(node, (me.source_kind, me.target_kind))
    kind = g.kind_of[i]
    if kind == me.source_kind:
        cand = np.arange(len(g.members[me.target_kind]))
        s_loc, t_loc = np.full(len(cand), g.local[i]), cand
    elif kind == me.target_kind:
        cand = np.arange(len(g.members[me.source_kind]))
        s_loc, t_loc = cand, np.full(len(cand), g.local[i])
    else:
        raise UsageError(f"{g.ids[i]} is a {kind}; {metaedge} joins {me.source_kind} and {me.target_kind}")
    scores = lp.score_local(metaedge, s_loc, t_loc)
    known = np.asarray(g.adj[metaedge][s_loc, t_loc]).ravel() > 0
    if me.source_kind == me.target_kind:  # never suggest the node itself
        scores[s_loc == t_loc] = -np.inf
    if novel_only:
        scores = np.where(known, -np.inf, scores)
    order = np.argsort(-scores, kind="stable")[:top]
    order = order[np.isfinite(scores[order])]
    src = g.members[me.source_kind][s_loc[order]]
    tgt = g.members[me.target_kind][t_loc[order]]
    names = g.nodes["name"].to_numpy()
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(order) + 1),
            "source": g.ids[src],
            "source_name": names[src],
            "metaedge": metaedge,
            "target": g.ids[tgt],
            "target_name": names[tgt],
            "score": np.round(scores[order], 6),
            "known": known[order],
        }
    )
