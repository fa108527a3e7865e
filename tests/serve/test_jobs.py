"""serve.jobs: registry tasks as CLI subprocess jobs, on real data (E. coli slice, promoter table).

Each job subprocess costs a few seconds of imports, so the tests share them: one off-target job checked
byte for byte against the CLI, one failing job, one cancelled and one timed-out fine-tune, one restart.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from genolm.cli.main import main as cli_main
from genolm.core import progress as progress_mod
from genolm.core import registry
from genolm.serve import jobs_process
from genolm.serve.jobs import RESTART_ERROR, STATES, STOP_ERROR, JobManager, QueueFull
from genolm.serve.jobs_store import JobStore
from genolm.serve.paths import PathError


def _guides(fasta_gz: Path, n: int = 3) -> list[str]:
    """Real spacers of the slice: 20-mers followed by an NGG PAM, spread along it."""
    lines = gzip.open(fasta_gz, "rt").read().splitlines()
    seq = "".join(x for x in lines if not x.startswith(">")).upper()
    site = re.compile(r"(?=([ACGT]{20})[ACGT]GG)")
    return [site.search(seq, 1000 + k * (len(seq) // (n + 1))).group(1) for k in range(n)]


@pytest.fixture()
def ddir(tmp_path, data_dir):
    """A server data dir with a slice of tests/data in data/ (copied: the job store lives beside it)."""
    d = tmp_path / "srv"
    (d / "data").mkdir(parents=True)
    shutil.copy(data_dir / "editing" / "ecoli_slice.fa.gz", d / "data")
    shutil.copy(data_dir / "core" / "prom_train.csv", d / "data")
    guides = _guides(d / "data" / "ecoli_slice.fa.gz")
    (d / "data" / "guides.fa").write_text("".join(f">g{i}\n{g}\n" for i, g in enumerate(guides)))
    (d / "data" / "bad_guides.csv").write_text("name,score\ng1,0.5\n")
    return d


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (not yet reaped) is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _gone(pid: int, within: float = 5.0) -> bool:
    """The process ended within ``within`` seconds (a killed process takes a moment to exit)."""
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


OFF = {"guides": "data/guides.fa", "genome": "data/ecoli_slice.fa.gz", "max_mismatches": 3}
LONG_FT = {"train": "data/prom_train.csv", "time_budget": "10m", "arch": "cnn", "hidden": 16, "layers": 1}


def test_offtargets_job_matches_the_cli_byte_for_byte(ddir, tmp_path, monkeypatch):
    with JobManager(ddir, workers=2) as m:
        job = m.submit("crispr.offtargets", dict(OFF, out="sites/sites.tsv"), owner="alice")
        assert job.state in ("queued", "running") and job.params["out"] == "sites/sites.tsv" and job.owner == "alice"
        job = m.wait(job.id, timeout=120)
        assert job.state == "succeeded", (job.error, m.log_tail(job.id))
        files = m.files(job.id)
        log = m.log_tail(job.id)
        progress = job.progress
        listed = [j.id for j in m.list(owner="alice")]
    # the same command through the CLI, in the data dir with the same relative inputs
    monkeypatch.chdir(ddir)
    cli_out = tmp_path / "cli" / "sites.tsv"
    argv = ["crispr", "offtargets", "--guides", OFF["guides"], "--genome", OFF["genome"], "--max-mismatches", "3"]
    assert cli_main([*argv, "--out", str(cli_out)]) == 0
    cli_files = sorted(p.name for p in cli_out.parent.iterdir())
    assert files == [f"sites/{n}" for n in cli_files] and "sites/sites.tsv" in files and len(files) >= 2
    for name in cli_files:
        assert (m.job_dir(job.id) / "sites" / name).read_bytes() == (cli_out.parent / name).read_bytes(), name
    rows = (cli_out.read_text()).splitlines()
    assert len(rows) > 3 and rows[0].startswith("guide")  # every guide hits at least its own site
    assert m.file_path(job.id, "sites/sites.tsv").read_bytes() == cli_out.read_bytes()
    assert job.to_json()["files"] == files and json.dumps(job.to_json())
    assert re.search(r"\d+ sites for 3 guides \(0 bad\) -> sites/sites.tsv", job.summary), job.summary
    assert job.summary in log and str(ddir) not in log  # paths in the log are data-dir relative
    assert progress is not None and progress["desc"] == "guide batches" and progress["fraction"] == 1.0
    assert listed == [job.id]
    assert job.created <= job.started <= job.finished and job.finished.endswith("Z")
    # results are served only from inside the job dir
    for bad in ("../" + job.id + ".log", "/etc/passwd", "nope.tsv", "sites"):
        with pytest.raises(FileNotFoundError):
            m.file_path(job.id, bad)
    assert not (ddir / "jobs" / f"{job.id}.partial").exists()


def test_failing_job_keeps_its_files_aside_with_the_cli_one_line_error(ddir, monkeypatch, capsys):
    m = JobManager(ddir, workers=2)
    job = m.submit("crispr.offtargets", dict(OFF, guides="data/bad_guides.csv"))  # queued before the workers start
    m.start()
    try:
        job = m.wait(job.id, timeout=120)
    finally:
        m.stop()
    assert (ddir / "jobs" / f"{job.id}.log").read_text().count("genolm: error:") == 1  # it ran once
    monkeypatch.chdir(ddir)
    capsys.readouterr()
    argv = ["crispr", "offtargets", "--guides", "data/bad_guides.csv", "--genome", OFF["genome"], "--out", "x.tsv"]
    assert cli_main(argv) == 2
    cli_error = capsys.readouterr().err.strip().splitlines()[-1]
    assert cli_error.startswith("genolm: error: data/bad_guides.csv:1: no guide sequence column")
    assert job.state == "failed" and job.error == cli_error
    assert m.files(job.id) == [] and "files" not in job.to_json()
    assert not (ddir / "jobs" / job.id).exists() and (ddir / "jobs" / f"{job.id}.failed").is_dir()
    with pytest.raises(FileNotFoundError):
        m.file_path(job.id, "result.tsv")
    assert cli_error in m.log_tail(job.id)


def test_cancel_and_timeout_kill_the_job_process_group(ddir, tmp_path):
    other = tmp_path / "srv2"  # a second server (its own store) with a job time limit, running alongside
    shutil.copytree(ddir / "data", other / "data")
    with JobManager(other, job_timeout_s=4) as limited, JobManager(ddir, workers=2) as m:
        timed = limited.submit("finetune", dict(LONG_FT, out="t_run"))
        job = m.submit("finetune", dict(LONG_FT))
        assert job.params["out"] == "run"
        # a long fine-tune: progress visible while it trains, cancelled within seconds, nothing left behind
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = m.get(job.id)
            if job.state == "running" and job.progress and job.progress["n"] >= 1:
                break
            time.sleep(0.2)
        assert job.state == "running" and job.progress["desc"] == "train", (job, m.log_tail(job.id))
        assert job.progress["total"] is None or job.progress["total"] > 0
        pid = m.store.get(job.id)["pid"]
        assert _alive(pid)
        t0 = time.monotonic()
        job = m.cancel(job.id)
        assert job.state == "cancelled" and time.monotonic() - t0 < 8 and job.finished
        assert _gone(pid)
        assert not (ddir / "jobs" / job.id).exists() and not (ddir / "jobs" / f"{job.id}.partial").exists()
        assert m.cancel(job.id).state == "cancelled"  # cancelling twice changes nothing
        victim = m.submit("finetune", dict(LONG_FT, out="victim"))  # still running when the manager stops
        timed = limited.wait(timed.id, timeout=60)
        while m.get(victim.id).state == "queued":
            time.sleep(0.1)
    assert timed.state == "failed" and timed.error == "timed out after 4s", timed
    victim = m.get(victim.id)
    assert victim.state == "failed" and victim.error == STOP_ERROR and (ddir / "jobs" / f"{victim.id}.failed").is_dir()
    assert not (other / "jobs" / timed.id).exists()


def test_submit_validates_confines_and_bounds_the_queue(ddir):
    m = JobManager(ddir, queue_size=2)  # not started: jobs stay queued
    with pytest.raises(KeyError, match="did you mean 'crispr.offtargets'"):
        m.submit("crispr.offtarget", OFF)
    with pytest.raises(KeyError, match="not offered"):
        m.submit("serve.api", {})
    with pytest.raises(registry.ParamError) as e:
        m.submit("crispr.offtargets", dict(OFF, max_mismatches="many"))
    assert e.value.param == "max_mismatches"
    for key, value in [("guides", "../../etc/passwd"), ("genome", "/etc/hosts"), ("guides", "~/g.fa")]:
        with pytest.raises(PathError) as pe:
            m.submit("crispr.offtargets", dict(OFF, **{key: value}))
        assert pe.value.param == key
    for value in ["jobs/0123456789abcdef.failed/result.tsv", "jobs/0123456789abcdef.log", "jobs/x/result.tsv"]:
        with pytest.raises(PathError, match="only a job's results"):
            m.submit("crispr.offtargets", dict(OFF, guides=value))
    with pytest.raises(PathError) as pe:
        m.submit("crispr.offtargets", dict(OFF, out="../../escaped.tsv"))
    assert pe.value.param == "out"
    a = m.submit("finetune", dict(LONG_FT, model="hf:InstaDeepAI/nucleotide-transformer-v2-50m-multi-species"))
    e = m.submit("explain-run", {"run_dir": f"jobs/{a.id}"})  # a job folder as an input
    assert e.params["run_dir"] == f"jobs/{a.id}" and m.cancel(e.id).state == "cancelled"
    assert a.params["model"].startswith("hf:") and a.params["train"] == "data/prom_train.csv"
    b = m.submit("crispr.offtargets", dict(OFF, guides=f"jobs/{a.id}/run/predictions.csv"))  # an earlier job's file
    with pytest.raises(QueueFull):
        m.submit("crispr.offtargets", OFF)
    assert [j.id for j in m.list()] == [b.id, e.id, a.id]  # newest first; the refused job was never stored
    assert m.cancel(a.id).state == "cancelled" and m.get(a.id).finished
    assert m.get("not-a-job") is None and m.get("../../etc") is None and m.cancel("0" * 16) is None
    assert m.files(b.id) == [] and m.log_tail(b.id) == ""
    assert set(STATES) == {"queued", "running", "succeeded", "failed", "cancelled"}


def test_state_transitions_are_compare_and_set_across_threads(tmp_path):
    store = JobStore(None, tmp_path / ".genolm" / "jobs.db")
    store.insert({"id": "a" * 16, "task": "predict", "params": {}, "state": "queued", "created": "t"})
    wins: list[int] = []
    barrier = threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        if store.transition("a" * 16, "queued", state="running", started=str(i)):
            wins.append(i)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and store.get("a" * 16)["started"] == str(wins[0])
    assert not store.transition("a" * 16, "queued", state="cancelled")
    mode = store.engine.connect().exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"


def test_concurrent_submits_respect_the_queue_bound(ddir):
    m = JobManager(ddir, queue_size=25)  # no workers: every accepted job stays queued
    accepted, refused = [], []

    def client() -> None:
        for _ in range(8):
            try:
                accepted.append(m.submit("crispr.offtargets", OFF).id)
            except QueueFull:
                refused.append(1)

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 25 == len(set(accepted)) and len(refused) == 48 - 25
    assert sorted(j.id for j in m.list(limit=1000)) == sorted(accepted)


def test_progress_file_hook(tmp_path, monkeypatch):
    f = tmp_path / "p.json"
    monkeypatch.setenv("GENOLM_PROGRESS_FILE", str(f))
    for quiet in ("1", "0"):  # quiet bars report too: the file is for the server, not the terminal
        monkeypatch.setenv("GENOLM_QUIET", quiet)
        for _ in progress_mod.progress(range(7), total=7, desc=f"count{quiet}", unit="x"):
            pass
        d = json.loads(f.read_text())
        assert d["desc"] == f"count{quiet}" and d["n"] == 7 and d["total"] == 7 and d["t"] > 0
    with progress_mod.progress(total=None, desc="open") as bar:
        bar.update(3)
    assert json.loads(f.read_text())["n"] == 3 and json.loads(f.read_text())["total"] is None
    assert not list(tmp_path.glob("*.tmp"))


RESTART_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from genolm.serve.jobs import JobManager
    m = JobManager(sys.argv[1], workers=1)
    m.start()
    ids = [m.submit("finetune", {**%r, "out": "long"}).id]
    ids += [m.submit("crispr.offtargets", {**%r, "out": f"s{i}.tsv"}).id for i in range(3)]
    print(" ".join(ids), flush=True)
    time.sleep(600)
    """
)


def test_restart_fails_the_running_job_and_resumes_the_queued_ones(ddir):
    script = RESTART_SCRIPT % (LONG_FT, OFF)
    server = subprocess.Popen([sys.executable, "-c", script, str(ddir)], stdout=subprocess.PIPE, text=True)
    try:
        ids = server.stdout.readline().split()
        assert len(ids) == 4, ids
        reader = JobManager(ddir)  # a second process reading the same store while the first one runs jobs
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and reader.get(ids[0]).state != "running":
            time.sleep(0.2)
        assert [reader.get(i).state for i in ids] == ["running", "queued", "queued", "queued"]
        assert reader.cancel(ids[3]).state == "cancelled"  # cancelled from another process: never runs
        cancelled = ids.pop()
        time.sleep(1.0)
        orphan = reader.store.get(ids[0])["pid"]
        assert orphan and _alive(orphan)
    finally:
        server.send_signal(signal.SIGKILL)  # a crash: no stop(), the job process is left behind
        server.wait()
    with JobManager(ddir, workers=2) as m:
        long_job = m.get(ids[0])
        assert long_job.state == "failed" and long_job.error == RESTART_ERROR
        assert _gone(orphan)  # the orphaned job process was stopped
        done = [m.wait(i, timeout=120) for i in ids[1:]]
        assert [j.state for j in done] == ["succeeded", "succeeded"], [(j.error, m.log_tail(j.id)) for j in done]
        f0, f1 = (m.files(j.id) for j in done)
        assert "s0.tsv" in f0 and "s0.summary.tsv" in f0 and [f.replace("s0", "s1") for f in f0] == f1
        assert m.file_path(ids[1], "s0.tsv").read_bytes() == m.file_path(ids[2], "s1.tsv").read_bytes()
        assert sorted(j.id for j in m.list()) == sorted([*ids, cancelled])  # no job lost, none duplicated
        assert m.get(cancelled).state == "cancelled" and not (ddir / "jobs" / f"{cancelled}.log").exists()
    assert (ddir / "jobs" / f"{ids[0]}.failed").is_dir() and not (ddir / "jobs" / ids[0]).exists()


def test_postgresql_store_round_trip(pg_url, ddir):
    table = f"genolm_jobs_test_{uuid.uuid4().hex[:8]}"
    plain = "postgresql://" + pg_url.partition("://")[2]  # as a user types it: the psycopg 3 driver is picked
    m = JobManager(ddir, db_url=plain, workers=1, table=table)
    try:
        m.start()
        job = m.wait(m.submit("crispr.offtargets", dict(OFF, out="pg.tsv"), owner="bob").id, timeout=120)
        assert job.state == "succeeded", job.error
        files = m.files(job.id)
        assert "pg.tsv" in files and "pg.summary.tsv" in files
        queued = JobManager(ddir, db_url=pg_url, table=table)  # a second manager on the same database
        assert queued.get(job.id).to_json()["files"] == files
        assert [j.id for j in queued.list(owner="bob")] == [job.id] and queued.list(owner="eve") == []
        assert json.loads(json.dumps(queued.get(job.id).params)) == job.params
        waiting = queued.submit("crispr.offtargets", OFF)  # this manager has no workers: it stays queued
        assert m.get(waiting.id).state == "queued" and m.cancel(waiting.id).state == "cancelled"
        assert queued.get(waiting.id).state == "cancelled" and queued.get(waiting.id).finished
        queued.store.close()
    finally:
        m.stop()
        m.store.drop()
        m.store.close()


def test_job_log_is_capped_and_errors_skip_decoration(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs_process, "LOG_MAX_BYTES", 100)
    path = tmp_path / "j.log"
    with open(path, "ab") as fh:
        log = jobs_process.JobLog(fh)
        for i in range(50):
            log.write(f"line {i}\n".encode())
    text = path.read_text()
    assert text.endswith("line 12\n[genolm: log truncated]\n") and len(text) < 130
    assert jobs_process.tail(path, 2) == "line 12\n[genolm: log truncated]" and jobs_process.tail(path, 0) == ""
    usage = ["Usage: genolm crispr offtargets [OPTIONS]", "╭─ Error ───╮", "│ No such option: --x │", "╰───────────╯"]
    assert jobs_process.last_error([x.encode() for x in usage]) == "No such option: --x"
    crash = ["genolm: warning: g3: bad guide", "genolm: error: data/g.fa:3: bad base 'Z'", "genolm: warning: done"]
    assert jobs_process.last_error([x.encode() for x in crash]) == "genolm: error: data/g.fa:3: bad base 'Z'"


LIVE_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from genolm.serve.jobs import JobManager
    m = JobManager(sys.argv[1], workers=1)
    m.start()
    print(m.submit("finetune", {**%r, "out": "long"}).id, flush=True)
    time.sleep(600)
    """
)


def test_a_second_server_on_the_same_data_dir_leaves_the_first_ones_jobs_alone(ddir):
    """A REST and an MCP server may share a data dir: starting one never fails a job the other is running."""
    server = subprocess.Popen(
        [sys.executable, "-c", LIVE_SCRIPT % LONG_FT, str(ddir)], stdout=subprocess.PIPE, text=True
    )
    try:
        job_id = server.stdout.readline().strip()
        reader = JobManager(ddir)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and reader.get(job_id).state != "running":
            time.sleep(0.2)
        with JobManager(ddir, workers=1) as second:  # start() runs the recovery
            time.sleep(1.0)
            job = second.get(job_id)
            assert job.state == "running" and job.error is None
            pid = second.store.get(job_id)["pid"]
            assert pid and _alive(pid)
            second.cancel(job_id)  # through the store: the owner's supervisor stops it
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and second.get(job_id).state == "running":
                time.sleep(0.2)
            assert second.get(job_id).state == "cancelled"
            assert _gone(pid, within=10)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
