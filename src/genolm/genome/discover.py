"""Novel-element discovery: embed sequences with a DNA language model, map, cluster, flag anomalies.

For every input sequence (FASTA/CSV records, or windows tiled along a genome):

- an embedding (mean-pooled last hidden state, :func:`genolm.core.infer.embed`);
- a 2-D map: PCA (default) or UMAP;
- clusters: k-means with k chosen by the best silhouette score (``auto``), or HDBSCAN; the criterion
  and its values are reported;
- ``perplexity`` under the language model: exact for causal models; for masked models a
  pseudo-perplexity where every base is masked exactly once across a few passes (a random partition
  of the positions into ``mask_rounds`` groups);
- ``excess_nll``: the model's negative log-likelihood per base minus the sequence's own complexity, its
  code length per base under an adaptive order-1 (dinucleotide) Markov model of itself
  (Krichevsky-Trofimov estimator). Raw perplexity mostly measures how simple a sequence is (an AT-rich
  or repetitive window is easy to predict whatever its origin); the difference is a likelihood ratio
  against a background model (Ren et al. 2019; Serra et al. 2020) and measures how much worse the model
  does than the sequence's own dinucleotide statistics: how foreign it is to what the model learned;
- ``embed_outlier``: robust Mahalanobis distance (minimum covariance determinant) from the bulk of the
  embeddings in their top principal components. Unlike a k-nearest-neighbour distance it still flags a
  group of similar foreign sequences, which are each other's neighbours;
- ``anomaly_score`` (higher = more anomalous): the mean of the robust z-scores (median/MAD) of
  ``excess_nll`` and log ``embed_outlier``: 0 is typical, a few units is far out on one or both.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from genolm.io.errors import InputError, UsageError
from genolm.io.fasta import is_fasta, normalize, read_fasta
from genolm.sequence import encode

log = logging.getLogger("genolm.discover")


def genome_windows(genome: str, window: int, stride: int | None = None, max_n_fraction: float = 0.1):
    """(ids, seqs) of windows tiled along a genome; ids are ``chrom:start-end`` (0-based half-open)."""
    if stride is not None and stride < 1:
        raise UsageError(f"--stride must be >= 1, got {stride}")
    stride = window if stride is None else stride
    ids, seqs = [], []
    for name, s in read_fasta(genome):
        s = normalize(s)
        for a in range(0, len(s) - window + 1, stride):
            w = s[a : a + window]
            if w.count("N") > max_n_fraction * window:
                continue
            ids.append(f"{name}:{a}-{a + window}")
            seqs.append(w)
    if not seqs:
        raise InputError(f"no window of {window} bases with <= {max_n_fraction:.0%} N in the genome", genome)
    return ids, seqs


def read_inputs(path: str) -> tuple[list[str], list[str]]:
    """FASTA records or a CSV/TSV with a ``sequence`` column (``id`` column optional)."""
    if is_fasta(path):
        ids, seqs = [], []
        for name, s in read_fasta(path):
            ids.append(name)
            seqs.append(normalize(s))
        return ids, seqs
    from genolm.io.tables import read_table

    df = read_table(path, required=["sequence"])
    seqs = [normalize(str(s)) for s in df["sequence"]]
    ids = [str(x) for x in df["id"]] if "id" in df.columns else [str(i) for i in range(len(seqs))]
    return ids, seqs


def perplexities(
    model,
    tokenizer,
    seqs: list[str],
    causal: bool,
    mask_rounds: int = 6,
    seed: int = 0,
    batch_size: int = 64,
    return_tokens: bool = False,
):
    """Per-sequence perplexity (causal) or pseudo-perplexity (masked LM; each base masked once).

    With ``return_tokens`` also the number of sequence tokens (special tokens excluded) of each sequence,
    to turn per-token into per-base log-likelihoods for multi-base tokenizers."""
    import torch

    from genolm.core.data import collate, tokenize_batch

    ids_all = tokenize_batch(tokenizer, seqs)
    order = np.argsort([len(x) for x in ids_all], kind="stable")
    dev = next(model.parameters()).device
    pad = tokenizer.pad_token_id or 0
    specials = {tokenizer.cls_token_id, tokenizer.sep_token_id, pad}
    mask_id = tokenizer.mask_token_id
    if not causal and mask_id is None:
        raise InputError("the model's tokenizer has no [MASK] token; give a causal or masked LM")
    out = np.zeros(len(seqs))
    n_tokens = np.zeros(len(seqs), dtype=np.int64)
    rng = np.random.default_rng(seed)
    model.eval()
    with torch.inference_mode():
        for i in range(0, len(seqs), batch_size):
            idx = order[i : i + batch_size]
            b = collate([{"input_ids": ids_all[j]} for j in idx], pad)
            x, am = b["input_ids"].to(dev), b["attention_mask"].to(dev)
            real = am.bool() & ~torch.isin(x, torch.tensor(sorted(s for s in specials if s is not None), device=dev))
            nll = torch.zeros(len(idx), device=dev)
            cnt = real.sum(1).clamp(min=1).float()
            n_tokens[idx] = real.sum(1).cpu().numpy()
            if causal:
                logits = model(input_ids=x, attention_mask=am).logits.float()
                lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, x[:, 1:, None])[..., 0]
                keep = real[:, 1:]
                nll = -(lp * keep).sum(1)
                cnt = keep.sum(1).clamp(min=1).float()
            else:
                groups = torch.from_numpy(rng.integers(0, mask_rounds, size=x.shape)).to(dev)
                for g in range(mask_rounds):
                    sel = real & (groups == g)
                    if not bool(sel.any()):
                        continue
                    xm = x.masked_fill(sel, mask_id)
                    logits = model(input_ids=xm, attention_mask=am).logits.float()
                    lp = torch.log_softmax(logits, -1).gather(-1, x[..., None])[..., 0]
                    nll -= (lp * sel).sum(1)
            ppl = torch.exp(nll / cnt).cpu().numpy()
            out[idx] = ppl
    return (out, n_tokens) if return_tokens else out


def complexity(seqs: list[str], order: int = 1) -> np.ndarray:
    """Code length per base (nats) of each sequence under an adaptive order-``order`` Markov model of itself.

    Each base is coded with the Krichevsky-Trofimov estimate (counts + 1/2) of its probability given the
    ``order`` preceding bases, from the counts seen so far in the same sequence: a sequential code, so
    the value is a real description length (about 1.39 nats for random DNA of 400 bases, less for biased
    or repetitive sequence). Bases other than ACGT, and contexts containing them, are skipped.
    """
    out = np.full(len(seqs), np.log(4.0))
    for j, s in enumerate(seqs):
        b = encode(s).astype(np.int64)
        b[b == 4] = -1
        if len(b) == 0:
            continue
        ctx = np.zeros(len(b), dtype=np.int64)  # context id; contexts shorter than `order` get their own ids
        ok = b >= 0
        for k in range(1, order + 1):
            prev = np.concatenate([np.full(k, -1), b[:-k]]) if len(b) > k else np.full(len(b), -1)
            ctx = ctx * 5 + (prev + 1)
            ok &= ~((prev < 0) & (np.arange(len(b)) >= k))  # a non-ACGT base inside the context
        if not ok.any():
            continue
        c, sym = ctx[ok], b[ok]
        p = (_seen_before(c * 4 + sym) + 0.5) / (_seen_before(c) + 2.0)
        out[j] = float(-np.log(p).mean())
    return out


def _seen_before(keys: np.ndarray) -> np.ndarray:
    """For each position, how often its key occurred at earlier positions."""
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    start = np.r_[0, np.flatnonzero(sk[1:] != sk[:-1]) + 1]
    run = np.repeat(start, np.diff(np.r_[start, len(sk)]))
    res = np.empty(len(keys), dtype=np.int64)
    res[order] = np.arange(len(sk)) - run
    return res


def knn_outlier(x: np.ndarray, k: int = 10) -> np.ndarray:
    """Mean distance to the k nearest neighbours (self excluded); the previous embedding score (kept for
    comparisons in benchmarks/discover.py)."""
    from sklearn.neighbors import NearestNeighbors

    k = max(1, min(k, len(x) - 1))
    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    d, _ = nn.kneighbors(x)
    return d[:, 1:].mean(1)


def robust_distance(x: np.ndarray, n_components: int = 10, seed: int = 0) -> np.ndarray:
    """Robust Mahalanobis distance of each row from the bulk, over its first ``n_components`` columns
    (principal components): minimum covariance determinant location/scatter, so the outliers do not
    shape the yardstick. Falls back to the plain covariance when MCD is not possible (too few rows)."""
    import warnings

    from sklearn.covariance import EmpiricalCovariance, MinCovDet

    p = max(1, min(n_components, x.shape[1], (len(x) - 1) // 5))
    x = x[:, :p]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            d2 = MinCovDet(random_state=seed).fit(x).mahalanobis(x)
        except (ValueError, np.linalg.LinAlgError):
            d2 = EmpiricalCovariance().fit(x).mahalanobis(x)
    d2 = np.nan_to_num(d2, nan=0.0, posinf=0.0)
    return np.sqrt(np.clip(d2, 0, None))


def robust_z(v: np.ndarray) -> np.ndarray:
    """(v - median) / (1.4826 * MAD): a z-score that the outliers themselves do not inflate."""
    med = np.median(v)
    mad = 1.4826 * np.median(np.abs(v - med))
    return (v - med) / (mad if mad > 0 else (np.std(v) or 1.0))


def choose_clusters(x: np.ndarray, method: str = "auto", seed: int = 0, k_range=(2, 10)) -> tuple[np.ndarray, dict]:
    """Cluster labels and a report of how they were chosen."""
    from sklearn.cluster import HDBSCAN, KMeans
    from sklearn.metrics import silhouette_score

    n = len(x)
    if n < 4:
        return np.zeros(n, dtype=int), {"method": "none", "reason": "fewer than 4 sequences"}
    sample = min(n, 3000)
    rng = np.random.default_rng(seed)
    sub = rng.choice(n, sample, replace=False) if sample < n else np.arange(n)
    if method in ("auto", "kmeans"):
        scores = {}
        best = None
        for k in range(k_range[0], min(k_range[1], n - 1) + 1):
            km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(x)
            s = float(silhouette_score(x[sub], km.labels_[sub]))
            scores[k] = round(s, 4)
            if best is None or s > best[0]:
                best = (s, k, km.labels_)
        return best[2].astype(int), {
            "method": "kmeans",
            "criterion": "silhouette (max)",
            "k": best[1],
            "silhouette_by_k": scores,
        }
    if method == "hdbscan":
        hd = HDBSCAN(min_cluster_size=max(5, n // 50), copy=True).fit(x)
        labels = hd.labels_.astype(int)
        n_cl = len(set(labels) - {-1})
        info = {
            "method": "hdbscan",
            "criterion": "density (min_cluster_size=%d)" % max(5, n // 50),
            "clusters": n_cl,
            "noise": int((labels == -1).sum()),
        }
        if n_cl >= 2:
            ok = labels[sub] >= 0
            if ok.sum() > n_cl:
                info["silhouette"] = round(float(silhouette_score(x[sub][ok], labels[sub][ok])), 4)
        return labels, info
    raise UsageError(f"unknown --cluster {method!r}; use auto, kmeans or hdbscan")


def map_2d(x: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    if method == "pca" or len(x) < 15:
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "umap":
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(x) - 1)).fit_transform(x)
    raise UsageError(f"unknown --map {method!r}; use pca or umap")


def discover(
    model: str,
    out: str,
    input: str | None = None,
    genome: str | None = None,
    window: int = 500,
    stride: int | None = None,
    map_method: str = "pca",
    cluster: str = "auto",
    mask_rounds: int = 6,
    seed: int = 0,
    batch_size: int = 64,
    overwrite: bool = False,
) -> dict:
    """Embeddings, map, clusters and anomaly scores for sequences; writes a run directory."""
    from genolm.core.infer import embed
    from genolm.core.loading import load_model
    from genolm.core.runs import RunDir, set_seed

    if (input is None) == (genome is None):
        raise UsageError("give exactly one of --input (FASTA/CSV) or --genome (with --window)")
    if window < 10:
        raise UsageError("--window must be at least 10 bases")
    set_seed(seed)
    config = dict(
        model=str(model),
        input=input,
        genome=genome,
        window=window,
        stride=stride,
        map=map_method,
        cluster=cluster,
        mask_rounds=mask_rounds,
        seed=seed,
    )
    ids, seqs = read_inputs(input) if input else genome_windows(genome, window, stride)
    if len(seqs) < 3:
        raise InputError("need at least 3 sequences to map and cluster", input or genome)
    net, tok, info = load_model(model)
    causal = info.task == "causal-lm" or bool(getattr(net.config, "causal", False))
    if info.task not in ("masked-lm", "causal-lm"):
        raise InputError(
            f"discover needs a language model (masked-lm or causal-lm), this model is {info.task!r}", model
        )
    with RunDir(
        out, command="discover", config=config, inputs=[p for p in (input, genome) if p], seed=seed, overwrite=overwrite
    ) as run:
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler

        emb = embed(net, tok, seqs, batch_size=batch_size)
        z = StandardScaler().fit_transform(emb)
        nc = min(20, z.shape[1], len(z) - 1)
        zp = PCA(n_components=nc, random_state=seed).fit_transform(z)
        labels, cinfo = choose_clusters(zp, cluster, seed)
        xy = map_2d(zp, map_method, seed)
        ppl, n_tok = perplexities(net, tok, seqs, causal, mask_rounds, seed, batch_size, return_tokens=True)
        # per-base NLL (a multi-base token carries len/n_tok bases) minus the sequence's own complexity
        lengths = np.array([max(1, len(s)) for s in seqs])
        excess = np.log(ppl) * n_tok / lengths - complexity(seqs)
        outl = robust_distance(zp, seed=seed)
        score = 0.5 * (robust_z(excess) + robust_z(np.log(outl + 1e-3)))
        import pandas as pd

        df = pd.DataFrame(
            {
                "id": ids,
                "cluster": labels,
                "anomaly_score": np.round(score, 5),
                "perplexity": np.round(ppl, 4),
                "excess_nll": np.round(excess, 5),
                "embed_outlier": np.round(outl, 4),
                "map_x": np.round(xy[:, 0], 4),
                "map_y": np.round(xy[:, 1], 4),
                "length": [len(s) for s in seqs],
            }
        )
        from genolm.io.atomic import atomic_open

        with atomic_open(run.path / "results.tsv", "w") as fh:
            df.to_csv(fh, sep="\t", index=False)
        np.save(run.path / "embeddings.npy", emb.astype(np.float32))
        counts = {int(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True))}
        metrics = {
            "n": len(seqs),
            "clusters": cinfo,
            "cluster_sizes": counts,
            "perplexity_median": float(np.median(ppl)),
            "model_task": info.task,
            "perplexity_kind": "causal" if causal else f"pseudo (each base masked once, {mask_rounds} passes)",
            "map": map_method,
        }
        run.write_metrics(metrics)
        _report(run.path / "report.html", df, metrics)
        return {"n": len(seqs), "clusters": cinfo, "out": str(run.path)}


def _report(path: Path, df, metrics: dict) -> None:
    from genolm.core.report import Report, pyplot

    plt = pyplot()
    r = Report(
        "genolm discover",
        f"{metrics['n']} sequences; clusters by {metrics['clusters'].get('method')} "
        f"({metrics['clusters'].get('criterion', '')})",
    )
    r.metrics_table(
        {
            "sequences": metrics["n"],
            "clusters": len(metrics["cluster_sizes"]),
            "median perplexity": metrics["perplexity_median"],
            "perplexity": metrics["perplexity_kind"],
            "map": metrics["map"],
        },
        "Summary",
    )
    if "silhouette_by_k" in metrics["clusters"]:
        r.table(
            ["k", "silhouette"],
            sorted(metrics["clusters"]["silhouette_by_k"].items()),
            "Number of clusters chosen by silhouette",
        )
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.6))
    sc = a.scatter(df.map_x, df.map_y, c=df.cluster, cmap="tab10", s=6)
    a.set_title("map coloured by cluster")
    a.legend(*sc.legend_elements(), fontsize=7, loc="best", title="cluster")
    sc2 = b.scatter(df.map_x, df.map_y, c=df.anomaly_score, cmap="magma", s=6)
    b.set_title("map coloured by anomaly score")
    fig.colorbar(sc2, ax=b)
    r.figure(fig, "2-D map of the embeddings")
    top = df.sort_values("anomaly_score", ascending=False).head(25)
    cols = ["id", "cluster", "anomaly_score", "perplexity", "excess_nll", "embed_outlier"]
    r.table(cols, top[cols].values.tolist(), "Most anomalous sequences")
    r.write(path)


def auroc(labels, scores) -> float:
    """Area under the ROC curve (NaN with one class): :func:`genolm.core.metrics.auroc`."""
    from genolm.core import metrics

    return metrics.auroc(labels, scores)
