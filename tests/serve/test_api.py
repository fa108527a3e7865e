"""The REST API against a real `genolm serve api` process: a CRISPR off-target job end to end (upload, submit,
poll, list, Range reads with CORS), the same bytes as the CLI, synchronous predict equal to `genolm predict`,
and jobs surviving a server restart."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest

from tests.serve.conftest import DATA, api, make_data_dir, server_env, start_server, wait_job

GENOME = "data/editing/ecoli_slice.fa.gz"


def _guides(n: int = 3) -> str:
    """Real protospacers next to an NGG in the rrnC 16S gene of the E. coli slice (several copies in it)."""
    with gzip.open(DATA / "editing" / "ecoli_slice.fa.gz", "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">"))
    found = [m.group(1) for m in re.finditer(r"(?=([ACGT]{20})[ACGT]GG)", seq[41_800:43_000])][:n]
    return "".join(f">g{i}\n{g}\n" for i, g in enumerate(found))


@pytest.fixture(scope="module")
def offtarget_job(api_server):
    """Upload the guides, submit crispr.offtargets, wait for it: (job JSON, uploaded path)."""
    with api(api_server) as c:
        up = c.post("/v1/uploads", files={"file": ("guides.fa", _guides().encode(), "text/plain")})
        assert up.status_code == 201, up.text
        path = up.json()["path"]
        assert re.fullmatch(r"uploads/[0-9a-f]{16}/guides\.fa", path)
        r = c.post("/v1/jobs/crispr.offtargets", json={"guides": path, "genome": GENOME, "max_mismatches": 2})
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["state"] in ("queued", "running") and r.headers["location"] == f"/v1/jobs/{job['id']}"
        assert job["params"]["out"] == "result.tsv"  # the default output name from the TSV metavar
        done = wait_job(c, job["id"])
    assert done["state"] == "succeeded", done
    return done, path


def test_health_tasks_and_schema(api_server):
    import httpx

    assert httpx.get(api_server.url + "/v1/health").json()["status"] == "ok"  # no token needed
    with api(api_server) as c:
        names = [t["name"] for t in c.get("/v1/tasks").json()]
        assert "crispr.offtargets" in names and "predict" in names and "serve.api" not in names
        t = c.get("/v1/tasks/crispr.offtargets").json()
        props = t["schema"]["properties"]
        assert props["max_mismatches"]["default"] == 4 and props["genome"]["x-genolm-path"] == "in"
        assert t["schema"]["additionalProperties"] is False and "--max-mismatches" in t["description"]
        assert c.get("/openapi.json").json()["info"]["title"] == "genolm REST API"


def test_offtarget_job_lists_files_and_serves_ranges_with_cors(api_server, offtarget_job, tmp_path):
    job, guides = offtarget_job
    assert "sites for 3 guides" in job["summary"] and job["finished"] and job["error"] is None
    with api(api_server) as c:
        files = c.get(f"/v1/jobs/{job['id']}/files").json()["files"]
        assert "result.tsv" in files and "result.summary.tsv" in files
        assert job["id"] in [j["id"] for j in c.get("/v1/jobs").json()["jobs"]]
        full = c.get(f"/v1/jobs/{job['id']}/files/result.tsv")
        assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
        body = full.content
        # the sites of the 16S guides: several rRNA copies each, all with the NGG/NAG PAM, 0-2 mismatches
        sites = pd.read_csv(__import__("io").BytesIO(body), sep="\t")
        assert set(sites["guide_id"]) == {"g0", "g1", "g2"} and sites["mismatches"].max() <= 2
        assert (sites.groupby("guide_id").size() >= 2).all()
        # Range: exact bytes, 206, Content-Range, CORS for a browser (igv.js) on another origin
        r = c.get(
            f"/v1/jobs/{job['id']}/files/result.tsv", headers={"Range": "bytes=10-99", "Origin": "http://igv.example"}
        )
        assert r.status_code == 206 and r.content == body[10:100]
        assert r.headers["content-range"] == f"bytes 10-99/{len(body)}" and r.headers["content-length"] == "90"
        assert r.headers["access-control-allow-origin"] == "*"
        exposed = r.headers["access-control-expose-headers"].lower()
        assert "content-range" in exposed and "content-length" in exposed and "accept-ranges" in exposed
        tail = c.get(f"/v1/jobs/{job['id']}/files/result.tsv", headers={"Range": "bytes=-25"})
        assert tail.status_code == 206 and tail.content == body[-25:]
        # a preflight from the browser is answered without a token
        pre = c.options(
            f"/v1/jobs/{job['id']}/files/result.tsv",
            headers={
                "Origin": "http://igv.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization,range",
            },
        )
        assert pre.status_code == 200 and "range" in pre.headers["access-control-allow-headers"].lower()
        # the reference for igv.js from the data dir, with Range; the uploaded guides too
        ref = c.get(f"/v1/data/{GENOME}", headers={"Range": "bytes=0-1"})
        assert ref.status_code == 206 and ref.content == b"\x1f\x8b"
        assert c.get(f"/v1/data/{guides}").text == _guides()
        log = c.get(f"/v1/jobs/{job['id']}/log")
        assert log.status_code == 200 and "sites for 3 guides" in log.text
    # the same inputs through the CLI give the same bytes
    (tmp_path / "g.fa").write_text(_guides())
    cli = [sys.executable, "-m", "genolm.cli.main", "crispr", "offtargets", "--guides", str(tmp_path / "g.fa")]
    cli += ["--genome", str(api_server.data_dir / GENOME), "--max-mismatches", "2", "--out", str(tmp_path / "o.tsv")]
    subprocess.run(cli, check=True, env=server_env(), capture_output=True)
    assert (tmp_path / "o.tsv").read_bytes() == body


def test_job_files_are_only_served_from_the_job_dir(api_server, offtarget_job):
    job, _ = offtarget_job
    with api(api_server) as c:
        for bad in ("..%2F..%2F.genolm%2Fjobs.db", "%2Fetc%2Fpasswd", "..%2Fjobs"):
            r = c.get(f"/v1/jobs/{job['id']}/files/{bad}")
            assert r.status_code in (404, 422) and "error" in r.json(), bad
        assert c.get("/v1/data/..%2F..%2Fetc%2Fpasswd").status_code == 422
        assert c.get("/v1/data/.genolm%2Fjobs.db").status_code == 422
        assert c.get("/v1/jobs/0123456789abcdef").status_code == 404
        assert c.get("/v1/jobs/not-a-job/files/x").status_code == 404


def test_sync_predict_equals_genolm_predict(api_server, promoter_clf, tmp_path):
    shutil.copytree(promoter_clf, api_server.data_dir / "models" / "promoter", dirs_exist_ok=True)
    rows = pd.read_csv(DATA / "core" / "prom_valid.csv").head(24)
    rows[["sequence"]].to_csv(tmp_path / "in.csv", index=False)
    cli = [sys.executable, "-m", "genolm.cli.main", "predict", "--model", str(promoter_clf)]
    cli += ["--input", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out.csv")]
    subprocess.run(cli, check=True, env=server_env(), capture_output=True)
    want = pd.read_csv(tmp_path / "out.csv", dtype={"id": str, "prediction": str})
    with api(api_server) as c:
        r = c.post("/v1/predict", json={"model": "models/promoter", "sequences": rows["sequence"].tolist()})
        assert r.status_code == 200, r.text
        got = r.json()["predictions"]
        named = c.post(
            "/v1/predict",
            json={"model": "models/promoter", "sequences": [{"id": "p1", "sequence": rows["sequence"][0]}]},
        ).json()["predictions"]
    assert [str(p["id"]) for p in got] == want["id"].tolist()
    assert [str(p["prediction"]) for p in got] == want["prediction"].tolist()
    score_cols = [c for c in want.columns if c.startswith("score")]
    assert score_cols
    for col in score_cols:  # the CLI writes %.6g
        assert [float(f"{p[col]:.6g}") for p in got] == want[col].tolist()
    assert named[0]["id"] == "p1" and named[0][score_cols[0]] == got[0][score_cols[0]]
    # the model learned something on these real promoters: better than chance on the held-out rows
    acc = (want["prediction"].astype(int) == rows["label"]).mean()
    assert acc > 0.5


def test_sync_crispr_score_equals_the_predictor(api_server, ontarget_run):
    import genolm

    shutil.copytree(ontarget_run, api_server.data_dir / "models" / "kim", dirs_exist_ok=True)
    guides = pd.read_csv(DATA / "editing" / "kim_dev.csv")["target_context_30mer"].head(10).tolist()
    want = genolm.load(ontarget_run).predict(guides)["score"].tolist()
    with api(api_server) as c:
        r = c.post("/v1/crispr/score", json={"model": "models/kim", "guides": guides + ["ACGT"]})
        assert r.status_code == 200, r.text
        scores = r.json()["scores"]
        wrong = c.post("/v1/crispr/score", json={"model": "models/promoter", "guides": guides[:1]})
    assert [s["sequence"] for s in scores[:10]] == guides
    assert [s["score"] for s in scores[:10]] == pytest.approx(want, rel=1e-6)
    assert scores[10]["score"] is None and scores[10].get("error")  # a bad guide is flagged, not a 500
    assert wrong.status_code in (404, 422) and wrong.json()["param"] == "model"


@pytest.mark.slow
def test_jobs_survive_a_server_restart(tmp_path):
    data_dir = make_data_dir(tmp_path / "dd")
    (data_dir / "g.fa").write_text(_guides())
    params = {"guides": "g.fa", "genome": GENOME, "max_mismatches": 3}
    server = start_server(data_dir, workers=1)
    try:
        with api(server) as c:
            first = wait_job(c, c.post("/v1/jobs/crispr.offtargets", json=params).json()["id"])
            assert first["state"] == "succeeded"
            later = [c.post("/v1/jobs/crispr.offtargets", json=params).json()["id"] for _ in range(3)]
            states = {j: c.get(f"/v1/jobs/{j}").json()["state"] for j in later}
            assert list(states.values()).count("queued") >= 2, states  # one worker: the others wait
    finally:
        assert server.stop() in (0, -15)  # uvicorn re-raises SIGTERM after its graceful shutdown
    again = start_server(data_dir, workers=1, log_name="server2.log")
    try:
        with api(again) as c:
            listed = {j["id"]: j for j in c.get("/v1/jobs").json()["jobs"]}
            assert listed[first["id"]]["state"] == "succeeded"
            assert "result.tsv" in c.get(f"/v1/jobs/{first['id']}/files").json()["files"]
            ref = c.get(f"/v1/jobs/{first['id']}/files/result.tsv").content
            final = {j: wait_job(c, j) for j in later}
    finally:
        again.stop()
    for j, job in final.items():
        if states[j] == "queued":  # queued before the restart: run after it, same result as the first run
            assert job["state"] == "succeeded", job
            assert (data_dir / "jobs" / j / "result.tsv").read_bytes() == ref
        else:  # it was running when the server stopped: failed with the reason, nothing half-visible
            assert job["state"] in ("failed", "succeeded"), job
            if job["state"] == "failed":
                assert job["error"] and not (data_dir / "jobs" / j).exists()
