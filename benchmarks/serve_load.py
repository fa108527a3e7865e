"""A bounded load test of `genolm serve api` on loopback: mixed synchronous predict, job submission and Range reads.

It starts its own server (a real `genolm serve api` process with a token and a fresh data dir holding the bundled
E. coli slice and Kim 2019 rows from tests/data), trains a small CNN promoter classifier for /v1/predict (or takes
``--model DIR``), then runs two phases with ``--concurrency`` clients (httpx.AsyncClient):

1. ``--requests`` requests at steady state (after one warm-up predict that loads the model): ~40% POST /v1/predict (8 promoters), ~45% Range reads (random byte
   ranges of the genome FASTA and of finished job results, checked against the bytes on disk), ~12% job status
   GETs, ~2.5% POST /v1/jobs/crispr.offtargets (3 guides, <= 2 mismatches). At the end every submitted job must
   reach ``succeeded``.
2. ``--restart-requests`` more with the server stopped (SIGTERM) and started again on the same data dir and port
   a third of the way in. Clients retry connection errors (reads, predictions and submissions that got no reply);
   a submission that got a job id is never re-sent and must end ``succeeded``; a job that was running when the
   server stopped is failed by design ("server stopped/restarted while the job ran"): it is counted as
   ``interrupted``, resubmitted, and its resubmission must succeed.

An error is any unexpected status, wrong bytes, or a request that still fails after its retries; a lost job is a
job id the server forgot, left unfinished, or failed for any reason but the restart. The last line is
``errors N lost N p99_ms X`` (errors and lost summed over both phases; p99 of the steady phase 1).

    python benchmarks/serve_load.py [--requests 2000] [--concurrency 32] [--restart-requests 1000] [--workers 2]
                                    [--model RUN_DIR] [--no-restart] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TOKEN = "serve-load-token-0123"
GENOME = "data/ecoli_slice.fa.gz"
RESTART_ERRORS = ("restarted", "stopped", "signal")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GENOLM_QUIET": "1"}


class Server:
    def __init__(self, data_dir: Path, port: int, workers: int, log: Path):
        self.data_dir, self.port, self.workers, self.log = data_dir, port, workers, log
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> float:
        t0 = time.monotonic()
        argv = [sys.executable, "-m", "genolm.cli.main", "serve", "api", "--port", str(self.port), "--token", TOKEN]
        argv += ["--data-dir", str(self.data_dir), "--workers", str(self.workers), "--queue-size", "10000"]
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env())
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=2).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


def prepare(work: Path, model: str | None) -> tuple[Path, list[str], list[str]]:
    """The data dir (genome, guides, the predict model) and the promoters sent to /v1/predict."""
    dd = work / "dd"
    (dd / "data").mkdir(parents=True)
    shutil.copy(DATA / "editing" / "ecoli_slice.fa.gz", dd / GENOME)
    with gzip.open(dd / GENOME, "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">"))
    guides = [m.group(1) for m in re.finditer(r"(?=([ACGT]{20})[ACGT]GG)", seq[41_800:43_000])][:3]
    (dd / "data" / "guides.fa").write_text("".join(f">g{i}\n{g}\n" for i, g in enumerate(guides)))
    promoters = pd.read_csv(DATA / "core" / "prom_valid.csv")["sequence"].tolist()
    target = dd / "models" / "promoter"
    if model:
        shutil.copytree(model, target)
    else:
        core = DATA / "core"
        argv = [sys.executable, "-m", "genolm.cli.main", "-q", "finetune", "--train", str(core / "prom_train.csv")]
        argv += ["--valid", str(core / "prom_valid.csv"), "--out", str(target), "--arch", "cnn", "--hidden", "32"]
        argv += ["--layers", "3", "--max-steps", "60", "--seed", "0"]
        subprocess.run(argv, check=True, env=env(), capture_output=True)
    return dd, promoters, guides


class Load:
    """Counters and the request mix of one phase."""

    def __init__(self, args, dd: Path, promoters: list[str], rng: random.Random):
        self.args, self.dd, self.promoters, self.rng = args, dd, promoters, rng
        self.genome_bytes = (dd / GENOME).read_bytes()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.jobs: dict[str, str] = {}  # id -> "submitted"
        self.done_jobs: list[str] = []
        self.retries = 0
        self.by_kind: dict[str, int] = {}

    def pick(self) -> str:
        x = self.rng.random()
        if x < 0.025:
            return "submit"
        if x < 0.425:
            return "predict"
        if x < 0.545:
            return "status"
        return "range"

    async def request(self, client: httpx.AsyncClient, method: str, url: str, retry: bool, **kw) -> httpx.Response:
        """One request; connection errors are retried (with backoff, up to 120 s) when ``retry``."""
        deadline = time.monotonic() + 120
        delay = 0.1
        while True:
            try:
                return await client.request(method, url, **kw)
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                if not retry or time.monotonic() > deadline:
                    raise
                self.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def one(self, client: httpx.AsyncClient, kind: str, retry: bool) -> None:
        t0 = time.perf_counter()
        try:
            if kind == "predict":
                seqs = self.rng.sample(self.promoters, 8)
                r = await self.request(
                    client, "POST", "/v1/predict", retry, json={"model": "models/promoter", "sequences": seqs}
                )
                ok = r.status_code == 200 and len(r.json()["predictions"]) == 8
            elif kind == "submit":
                params = {"guides": "data/guides.fa", "genome": GENOME, "max_mismatches": 2}
                r = await self.request(client, "POST", "/v1/jobs/crispr.offtargets", retry, json=params)
                ok = r.status_code == 202
                if ok:
                    self.jobs[r.json()["id"]] = "submitted"
            elif kind == "status" and self.jobs:
                jid = self.rng.choice(list(self.jobs))
                r = await self.request(client, "GET", f"/v1/jobs/{jid}", retry)
                ok = r.status_code == 200 and r.json()["id"] == jid
            else:
                ok = await self.range_read(client, retry)
                r = None
            if not ok:
                self.errors.append(f"{kind}: {r.status_code if r is not None else 'bytes'} {r.text[:200] if r else ''}")
        except Exception as e:  # noqa: BLE001 - every failure is counted, none stops the run
            self.errors.append(f"{kind}: {type(e).__name__}: {e}")
        self.latencies.append(time.perf_counter() - t0)
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    async def range_read(self, client: httpx.AsyncClient, retry: bool) -> bool:
        if self.done_jobs and self.rng.random() < 0.5:
            jid = self.rng.choice(self.done_jobs)
            path = self.dd / "jobs" / jid / "result.tsv"
            url, body = f"/v1/jobs/{jid}/files/result.tsv", path.read_bytes()
        else:
            url, body = f"/v1/data/{GENOME}", self.genome_bytes
        start = self.rng.randrange(0, max(1, len(body) - 1))
        end = min(len(body) - 1, start + self.rng.randrange(1, 65536))
        r = await self.request(client, "GET", url, retry, headers={"Range": f"bytes={start}-{end}"})
        return r.status_code == 206 and r.content == body[start : end + 1]

    async def poll_done(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        """Follow submitted jobs so Range reads can also hit fresh job results."""
        while not stop.is_set():
            for jid in [j for j, s in self.jobs.items() if s == "submitted"][:20]:
                try:
                    r = await client.get(f"/v1/jobs/{jid}")
                except httpx.HTTPError:
                    break
                if r.status_code == 200 and r.json()["state"] == "succeeded":
                    self.jobs[jid] = "succeeded"
                    self.done_jobs.append(jid)
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass


async def run_phase(load: Load, url: str, n: int, concurrency: int, retry: bool, at=None, hook=None) -> float:
    """``n`` requests from ``concurrency`` workers; ``hook`` (a coroutine function) runs once ``at`` were sent."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as client:
        stop = asyncio.Event()
        poller = asyncio.create_task(load.poll_done(client, stop))
        sent = 0
        hooked: list[asyncio.Task] = []

        async def worker():
            nonlocal sent
            while sent < n:
                sent += 1
                if hook is not None and at is not None and sent == at:
                    hooked.append(asyncio.create_task(hook()))
                await load.one(client, load.pick(), retry)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
        for t in hooked:
            await t
        stop.set()
        await poller
    return wall


def settle(url: str, jobs: dict[str, str], timeout: float = 900) -> dict[str, dict]:
    """Wait for every job to reach a final state; {id: job JSON or {"state": "missing"}}."""
    out: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as c:
        pending = list(jobs)
        while pending and time.monotonic() < deadline:
            still = []
            for jid in pending:
                r = c.get(f"/v1/jobs/{jid}")
                job = r.json() if r.status_code == 200 else {"state": "missing"}
                if job["state"] in ("succeeded", "failed", "cancelled", "missing"):
                    out[jid] = job
                else:
                    still.append(jid)
            pending = still
            if pending:
                time.sleep(1.0)
        for jid in pending:
            out[jid] = {"state": "unfinished"}
    return out


def report(name: str, load: Load, wall: float, n: int) -> tuple[float, float]:
    lat = np.array(load.latencies) * 1000
    p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
    mix = ", ".join(f"{k} {v}" for k, v in sorted(load.by_kind.items()))
    print(
        f"{name}: {n} requests in {wall:.1f} s = {n / wall:.1f} req/s; p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {lat.max():.0f} ms; errors {len(load.errors)} ({100 * len(load.errors) / n:.2f}%); "
        f"connection retries {load.retries}; mix: {mix}",
        flush=True,
    )
    for e in load.errors[:5]:
        print(f"  error: {e}", flush=True)
    return p50, p99


def count_lost(name: str, final: dict[str, dict]) -> tuple[int, list[str]]:
    ok = [j for j, v in final.items() if v["state"] == "succeeded"]
    interrupted = [
        j
        for j, v in final.items()
        if v["state"] == "failed" and any(w in (v.get("error") or "") for w in RESTART_ERRORS)
    ]
    lost = len(final) - len(ok) - len(interrupted)
    print(
        f"{name} jobs: {len(final)} submitted, {len(ok)} succeeded, {len(interrupted)} interrupted by the restart, "
        f"{lost} lost",
        flush=True,
    )
    for j, v in final.items():
        if j not in ok and j not in interrupted:
            print(f"  lost {j}: {v.get('state')} {v.get('error')}", flush=True)
    return lost, interrupted


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--restart-requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="job workers of the server")
    ap.add_argument("--model", help="a DNA classifier run dir for /v1/predict (default: train a small CNN)")
    ap.add_argument("--no-restart", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", help="keep the work dir here")
    args = ap.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="genolm_serve_load_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    dd, promoters, _ = prepare(work, args.model)
    print(f"prepared {dd} in {time.monotonic() - t0:.1f} s ({os.cpu_count()} CPUs)", flush=True)
    server = Server(dd, free_port(), args.workers, work / "server.log")
    print(f"server up in {server.start():.1f} s at {server.url}", flush=True)
    t1 = time.monotonic()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300) as c:
        warm = c.post("/v1/predict", json={"model": "models/promoter", "sequences": promoters[:8]})
        assert warm.status_code == 200, warm.text
    print(f"warm-up predict (loads the model once, not timed below) {time.monotonic() - t1:.1f} s", flush=True)
    rng = random.Random(args.seed)
    errors = lost = 0
    try:
        load = Load(args, dd, promoters, rng)
        wall = asyncio.run(run_phase(load, server.url, args.requests, args.concurrency, retry=False))
        _, p99 = report("phase 1 (steady)", load, wall, args.requests)
        t1 = time.monotonic()
        final = settle(server.url, load.jobs)
        print(f"phase 1 jobs settled {time.monotonic() - t1:.1f} s after the last request", flush=True)
        n_lost, _ = count_lost("phase 1", final)
        errors, lost = len(load.errors), n_lost
        if not args.no_restart:
            load2 = Load(args, dd, promoters, rng)
            load2.done_jobs = list(load.done_jobs)
            down: dict[str, float] = {}

            async def restart():
                t = time.monotonic()
                await asyncio.to_thread(server.stop)
                down["stopped"] = time.monotonic() - t
                down["started"] = await asyncio.to_thread(server.start)

            at = max(1, args.restart_requests // 3)
            wall2 = asyncio.run(
                run_phase(load2, server.url, args.restart_requests, args.concurrency, retry=True, at=at, hook=restart)
            )
            report("phase 2 (restart)", load2, wall2, args.restart_requests)
            print(
                f"restart after request {at}: stop {down.get('stopped', 0):.1f} s, start {down.get('started', 0):.1f} s",
                flush=True,
            )
            final2 = settle(server.url, load2.jobs)
            n_lost2, interrupted = count_lost("phase 2", final2)
            if interrupted:  # what a client does with a job the restart failed: submit it again
                again = {}
                with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
                    for jid in interrupted:
                        r = c.post(f"/v1/jobs/{final2[jid]['task']}", json=final2[jid]["params"])
                        again[r.json()["id"] if r.status_code == 202 else f"refused-{jid}"] = "submitted"
                n_lost2 += count_lost("phase 2 resubmitted", settle(server.url, again))[0]
            errors += len(load2.errors)
            lost += n_lost2
    finally:
        server.stop()
    print(f"total {time.monotonic() - t0:.0f} s; work dir {work}", flush=True)
    print(f"errors {errors} lost {lost} p99_ms {p99:.1f}", flush=True)
    return 0 if errors == 0 and lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
