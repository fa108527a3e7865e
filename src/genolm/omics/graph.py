"""A heterogeneous knowledge graph (Hetionet style) as per-metaedge sparse matrices, with metapath features.

Nodes are ``id  name  kind`` rows (ids like ``Compound::DB00014``); edges are ``source  metaedge  target``
rows. Each metaedge (e.g. ``CbG``) links one source kind to one target kind and is held as a binary
CSR matrix over the kinds' local node indices. Same-kind metaedges without ``>`` (GiG, CrC, DrD) are
undirected and symmetrised.

Features for a (source, target) pair of a target metaedge:
- degree-weighted path counts (DWPC, Himmelstein et al. 2017) along every metapath of length <= 3
  joining the source kind to the target kind (the target metaedge itself excluded), and
- the degree of each end in every metaedge touching its kind.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from genolm.io.errors import InputError
from genolm.io.tables import read_table

log = logging.getLogger("genolm.omics")

Step = tuple[str, bool]  # (metaedge, forward?)


def read_nodes(path: str | os.PathLike) -> pd.DataFrame:
    df = read_table(path, required=["id", "name", "kind"], sep="\t", dtype=str)
    if df["id"].isna().any():
        raise InputError("empty node id", path, int(df["id"].isna().to_numpy().argmax()) + 2)
    dup = df["id"].duplicated()
    if dup.any():
        i = int(dup.to_numpy().argmax())
        raise InputError(f"duplicate node id {df['id'].iat[i]!r}", path, i + 2)
    df["name"] = df["name"].fillna("")
    return df.reset_index(drop=True)


def read_edges(path: str | os.PathLike, node_index: dict[str, int] | None = None) -> pd.DataFrame:
    """``source metaedge target`` rows; with ``node_index`` every node must be known."""
    df = read_table(path, required=["source", "metaedge", "target"], sep="\t", dtype=str)
    for col in ("source", "metaedge", "target"):
        if df[col].isna().any():
            raise InputError(f"empty {col!r}", path, int(df[col].isna().to_numpy().argmax()) + 2)
    if node_index is not None:
        for col in ("source", "target"):
            unknown = ~df[col].isin(node_index.keys())
            if unknown.any():
                i = int(unknown.to_numpy().argmax())
                raise InputError(f"unknown node {df[col].iat[i]!r} (not in the nodes table)", path, i + 2)
    return df


@dataclass
class Metaedge:
    abbrev: str
    source_kind: str
    target_kind: str

    @property
    def undirected_self(self) -> bool:
        return self.source_kind == self.target_kind and ">" not in self.abbrev


class Graph:
    """Nodes + per-metaedge binary adjacency (CSR, local indices within each kind)."""

    def __init__(
        self,
        nodes: pd.DataFrame,
        edges: pd.DataFrame,
        metaedges: dict[str, Metaedge] | None = None,
        edges_path: str = "edges",
    ):
        self.nodes = nodes
        self.ids = nodes["id"].to_numpy()
        self.index = {n: i for i, n in enumerate(self.ids)}
        kinds = nodes["kind"].to_numpy()
        self.kinds = sorted(set(kinds))
        self.kind_of = kinds
        self.local = np.zeros(len(nodes), dtype=np.int64)
        self.members: dict[str, np.ndarray] = {}
        for k in self.kinds:
            idx = np.flatnonzero(kinds == k)
            self.members[k] = idx
            self.local[idx] = np.arange(len(idx))
        self.metaedges: dict[str, Metaedge] = dict(metaedges or {})
        self.adj: dict[str, sp.csr_matrix] = {}
        src = np.array([self.index[s] for s in edges["source"]], dtype=np.int64) if len(edges) else np.zeros(0, int)
        tgt = np.array([self.index[t] for t in edges["target"]], dtype=np.int64) if len(edges) else np.zeros(0, int)
        rel = edges["metaedge"].to_numpy()
        for m in pd.unique(rel):
            sel = rel == m
            s, t = src[sel], tgt[sel]
            sk, tk = self.kind_of[s[0]], self.kind_of[t[0]]
            bad = (self.kind_of[s] != sk) | (self.kind_of[t] != tk)
            if bad.any():
                i = int(np.flatnonzero(sel)[int(bad.argmax())])
                raise InputError(
                    f"metaedge {m!r} joins {sk}->{tk} elsewhere but {self.kind_of[src[i]]}->"
                    f"{self.kind_of[tgt[i]]} here",
                    edges_path,
                    i + 2,
                )
            if m in self.metaedges and (self.metaedges[m].source_kind, self.metaedges[m].target_kind) != (sk, tk):
                raise InputError(
                    f"metaedge {m!r} must join {self.metaedges[m].source_kind}->{self.metaedges[m].target_kind}",
                    edges_path,
                )
            self.metaedges.setdefault(m, Metaedge(m, sk, tk))
        for m, me in self.metaedges.items():
            sel = rel == m
            self.adj[m] = self._matrix(me, self.local[src[sel]], self.local[tgt[sel]])

    def _matrix(self, me: Metaedge, s: np.ndarray, t: np.ndarray) -> sp.csr_matrix:
        shape = (len(self.members[me.source_kind]), len(self.members[me.target_kind]))
        a = sp.csr_matrix((np.ones(len(s), dtype=np.float64), (s, t)), shape=shape)
        if me.undirected_self:
            a = a + a.T
        a.data[:] = 1.0  # duplicates collapse
        return a.tocsr()

    def with_edges_removed(self, metaedge: str, s_local: np.ndarray, t_local: np.ndarray) -> "Graph":
        """A shallow copy whose ``metaedge`` matrix lacks the given (local) pairs."""
        g = object.__new__(Graph)
        g.__dict__.update(self.__dict__)
        g.adj = dict(self.adj)
        a = self.adj[metaedge].tolil(copy=True)
        a[s_local, t_local] = 0
        if self.metaedges[metaedge].undirected_self:
            a[t_local, s_local] = 0
        a = a.tocsr()
        a.eliminate_zeros()
        g.adj[metaedge] = a
        return g

    # -- features ------------------------------------------------------------------------------------------
    def step_matrix(self, step: Step, damping: float) -> sp.csr_matrix:
        m, forward = step
        a = self.adj[m] if forward else self.adj[m].T.tocsr()
        if damping == 0:
            return a
        rdeg = np.asarray(a.sum(axis=1)).ravel()
        cdeg = np.asarray(a.sum(axis=0)).ravel()
        r = np.power(np.maximum(rdeg, 1), -damping)
        c = np.power(np.maximum(cdeg, 1), -damping)
        return (sp.diags(r) @ a @ sp.diags(c)).tocsr()

    def step_kinds(self, step: Step) -> tuple[str, str]:
        me = self.metaedges[step[0]]
        return (me.source_kind, me.target_kind) if step[1] else (me.target_kind, me.source_kind)

    def metapaths(self, target: str, max_length: int = 3) -> list[tuple[Step, ...]]:
        """All metapaths (walks over the metagraph) of length <= max_length from the target metaedge's source
        kind to its target kind, except the target metaedge itself."""
        me = self.metaedges[target]
        steps: list[Step] = []
        for m, e in self.metaedges.items():
            steps.append((m, True))
            if not e.undirected_self:
                steps.append((m, False))
        out, frontier = [], [((), me.source_kind)]
        for _ in range(max_length):
            nxt = []
            for path, kind in frontier:
                for st in steps:
                    a, b = self.step_kinds(st)
                    if a != kind:
                        continue
                    p = path + (st,)
                    nxt.append((p, b))
                    if b == me.target_kind and p != ((target, True),):
                        out.append(p)
            frontier = nxt
        return out

    def degree_features(self, kind: str) -> list[Step]:
        """Steps leaving ``kind`` (their row sums are the node's degrees)."""
        out = []
        for m, e in self.metaedges.items():
            if e.source_kind == kind:
                out.append((m, True))
            if e.target_kind == kind and not e.undirected_self:
                out.append((m, False))
        return out

    def pair_features(
        self, target: str, s_local: np.ndarray, t_local: np.ndarray, paths: list[tuple[Step, ...]], damping: float = 0.4
    ) -> np.ndarray:
        """Feature matrix (pairs x features) for local source/target indices of ``target``'s kinds."""
        me = self.metaedges[target]
        cache: dict[Step, sp.csr_matrix] = {}

        def mat(st: Step) -> sp.csr_matrix:
            if st not in cache:
                cache[st] = self.step_matrix(st, damping)
            return cache[st]

        uniq, inv = np.unique(s_local, return_inverse=True)
        cols = []
        for path in paths:
            prod = mat(path[0])[uniq]
            for st in path[1:]:
                prod = prod @ mat(st)
            prod = prod.tocsr()
            cols.append(np.asarray(prod[inv, t_local]).ravel())
        for kind, idx in ((me.source_kind, s_local), (me.target_kind, t_local)):
            for st in self.degree_features(kind):
                a = self.adj[st[0]] if st[1] else self.adj[st[0]].T
                deg = np.asarray(a.sum(axis=1)).ravel()
                cols.append(np.log1p(deg[idx]))
        return np.column_stack(cols) if cols else np.zeros((len(s_local), 0))

    def feature_names(self, target: str, paths: list[tuple[Step, ...]]) -> list[str]:
        me = self.metaedges[target]
        names = ["dwpc:" + "-".join(m if fwd else f"{m}^-1" for m, fwd in p) for p in paths]
        for side, kind in (("source", me.source_kind), ("target", me.target_kind)):
            names += [f"degree:{side}:{m if fwd else m + '^-1'}" for m, fwd in self.degree_features(kind)]
        return names


def sample_negatives(
    n: int, n_source: int, n_target: int, forbidden: set[tuple[int, int]], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Uniform type-constrained random pairs (local indices) that are not in ``forbidden``."""
    s_out, t_out, seen = [], [], set()
    while len(s_out) < n:
        s = rng.integers(0, n_source, size=2 * (n - len(s_out)) + 16)
        t = rng.integers(0, n_target, size=len(s))
        for a, b in zip(s.tolist(), t.tolist()):
            if (a, b) in forbidden or (a, b) in seen:
                continue
            seen.add((a, b))
            s_out.append(a)
            t_out.append(b)
            if len(s_out) == n:
                break
    return np.array(s_out, dtype=np.int64), np.array(t_out, dtype=np.int64)
