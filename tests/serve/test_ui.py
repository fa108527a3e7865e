"""The web UI in a real headless Chromium (Debian `chromium` driven by Playwright, no browser download) against a
real `genolm serve api`: token prompt, a CRISPR design job submitted from the schema-generated form (reference
uploaded through the form), progress to success, the guides in the results table (all rows, sorting, filtering)
and as a drawn track in igv.js on the job's reference, with no request leaving the server (offline igv.js); the
report, "Explain this run" and a wrong token; and (slow) a scored VCF in the table and as an indexed track
coloured by GENOLM_SCORE.

Screenshots go to the test's tmp dir, and also to $GENOLM_SCREENSHOTS when it is set."""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import DATA, skip_or_fail
from tests.serve.conftest import api

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REGION = "ecoli_slice:2001-2600"  # 600 nt of the E. coli slice: ~50 NGG guides, designed in seconds
JOB_TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """A function saving a page screenshot under the tmp dir (and $GENOLM_SCREENSHOTS); returns the tmp path."""
    tmp = tmp_path_factory.mktemp("ui_screenshots")
    extra = os.environ.get("GENOLM_SCREENSHOTS")

    def save(target, name: str) -> Path:
        path = tmp / f"{name}.png"
        target.screenshot(path=str(path), **({"full_page": True} if hasattr(target, "goto") else {}))
        assert path.stat().st_size > 1000
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(extra) / path.name)
        return path

    return save


@pytest.fixture(scope="module")
def browser(api_server, tmp_path_factory):
    """A fresh Chromium profile; every request that is not to the genolm server is aborted and recorded."""
    if not Path(CHROMIUM).is_file():
        skip_or_fail(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install playwright; no browser download needed)")
    profile = tmp_path_factory.mktemp("chromium_profile")
    with sync_playwright() as pw:
        try:
            ctx = pw.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1000},
            )
        except Exception as e:  # pragma: no cover - depends on the machine
            skip_or_fail(f"cannot start {CHROMIUM}: {e}")
        ctx.set_default_timeout(20_000)
        ctx.outside = []  # URLs the page tried to reach outside the server
        ctx.errors = []  # uncaught page errors

        def gate(route):
            if route.request.url.startswith(api_server.url + "/") or route.request.url.startswith("data:"):
                route.continue_()
            else:
                ctx.outside.append(route.request.url)
                route.abort()

        ctx.route("**/*", gate)
        yield ctx
        ctx.close()


def new_page(browser):
    page = browser.new_page()
    page.on("pageerror", lambda e: browser.errors.append(str(e)))
    return page


def login(page, server, token):
    page.goto(server.url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")


@pytest.fixture(scope="module")
def design_page(api_server, browser, shots):
    """The job page of a crispr.design job submitted through the UI, once it succeeded: (page, job id)."""
    page = new_page(browser)
    login(page, api_server, api_server.token)
    page.wait_for_selector("#new-job:not([hidden])")
    page.select_option("#task-select", "crispr.design")
    # the form comes from the registry's schema: required first, defaults filled, file params with an upload button
    page.wait_for_selector("[data-param=reference] button.upload")
    assert page.input_value("#param-pam") == "NGG"
    assert page.input_value("#param-max_mismatches") == "4"
    assert page.get_attribute("#param-reference", "required") is not None
    # the reference goes through POST /v1/uploads (data-dir relative path put in the field)
    page.set_input_files("[data-param=reference] input[type=file]", str(DATA / "editing" / "ecoli_slice.fa.gz"))
    page.wait_for_function("document.querySelector('#param-reference').value.startsWith('uploads/')")
    page.fill("#param-region", REGION)
    page.fill("#param-out", "guides.tsv")
    shots(page, "ui_form")
    page.click("#submit-job")
    page.wait_for_url("**/#/jobs/*")
    job_id = page.url.rsplit("/", 1)[-1]
    page.wait_for_selector("body[data-job-done]", timeout=JOB_TIMEOUT_MS)
    assert page.get_attribute("#job-state", "data-state") == "succeeded", page.inner_text("#job")
    page.wait_for_function(
        "window.genolmBrowser && window.genolmBrowser.findTracks(t => t.name === 'guides.bed').length"
        " && !document.querySelector('#table-wrap').hidden"
    )
    yield page, job_id
    page.close()


def guides_tsv(server, job_id) -> pd.DataFrame:
    with api(server) as c:
        r = c.get(f"/v1/jobs/{job_id}/files/guides.tsv")
        r.raise_for_status()
    return pd.read_csv(io.StringIO(r.text), sep="\t", keep_default_na=False, dtype=str)


def column(page, name) -> list[str]:
    return page.evaluate(
        """(name) => {
            const heads = [...document.querySelectorAll('#results-table thead th')].map(th => th.textContent);
            const i = heads.indexOf(name);
            return [...document.querySelectorAll('#results-table tbody tr')].map(tr => tr.children[i].textContent);
        }""",
        name,
    )


def test_guides_in_results_table(design_page, api_server, shots):
    page, job_id = design_page
    df = guides_tsv(api_server, job_id)
    assert len(df) > 20
    assert page.locator("#results-table tbody tr").count() == len(df)
    assert page.inner_text("#table-count") == f"{len(df)} of {len(df)} rows"
    assert column(page, "guide_id") == list(df["guide_id"])
    heads = page.locator("#results-table thead th")
    assert heads.all_inner_texts()[: len(df.columns)] == list(df.columns)

    # numeric sort on start, ascending then descending
    page.click("#results-table thead th:text-is('start')")
    starts = [int(x) for x in column(page, "start")]
    assert starts == sorted(int(x) for x in df["start"])
    assert page.get_attribute("#results-table thead th:text-is('start')", "aria-sort") == "ascending"
    page.click("#results-table thead th:text-is('start')")
    assert [int(x) for x in column(page, "start")] == sorted(starts, reverse=True)
    # text sort on the spacer
    page.click("#results-table thead th:text-is('spacer')")
    assert column(page, "spacer") == sorted(df["spacer"])

    # filter: the rows with any cell containing the text (case-insensitive), here the minus-strand guides' PAM "TGG"
    page.fill("#table-filter", "tgg")
    expect = df[df.apply(lambda r: any("tgg" in str(v).lower() for v in r), axis=1)]
    assert 0 < len(expect) < len(df)
    assert page.locator("#results-table tbody tr").count() == len(expect)
    assert page.inner_text("#table-count") == f"{len(expect)} of {len(df)} rows"
    shots(page.locator("#table-wrap"), "ui_table_filtered")
    page.fill("#table-filter", "")
    assert page.locator("#results-table tbody tr").count() == len(df)


def test_guides_track_in_igv(design_page, api_server, browser, shots):
    page, job_id = design_page
    df = guides_tsv(api_server, job_id)
    # the track's name is in igv.js's DOM, its features are the BED's, and they are drawn on its canvas
    # (igv.js renders into a shadow root, which Playwright's locators pierce)
    assert page.locator("#igv").get_by_text("guides.bed", exact=True).count() >= 1
    drawn = page.evaluate(
        """() => {
            const b = window.genolmBrowser;
            const t = b.findTracks(t => t.name === 'guides.bed')[0];
            const vp = t.trackView.viewports[0];
            const d = vp.canvas.getContext('2d').getImageData(0, 0, vp.canvas.width, vp.canvas.height).data;
            let blue = 0;  // guides are drawn in rgb(0, 110, 200)
            for (let i = 0; i < d.length; i += 4) if (d[i] < 40 && d[i + 2] > 150 && d[i + 3] > 0) blue++;
            const f = vp.featureCache.features;
            return {locus: [].concat(b.currentLoci())[0], genome: b.genome.id, chrs: b.genome.chromosomeNames,
                    n: f.length, names: f.map(x => x.name), starts: f.map(x => x.start), blue};
        }"""
    )
    assert drawn["chrs"] == ["ecoli_slice"]
    assert drawn["genome"].startswith("uploads/") and drawn["genome"].endswith("ecoli_slice.fa.gz")
    assert drawn["locus"].replace(",", "") == REGION
    assert drawn["n"] == len(df)
    assert sorted(drawn["names"]) == sorted(df["guide_id"])
    assert sorted(drawn["starts"]) == sorted(int(s) for s in df["start"])  # BED 0-based starts, as in guides.tsv
    assert drawn["blue"] > 1000, drawn["blue"]
    # igv.js holds the reference's bases (the gzipped FASTA, loaded whole as there is no .fai)
    with gzip.open(DATA / "editing" / "ecoli_slice.fa.gz", "rt") as fh:
        seq = "".join(line.strip() for line in fh if not line.startswith(">"))
    assert page.evaluate("window.genolmBrowser.genome.getSequence('ecoli_slice', 2000, 2030)") == seq[2000:2030]
    shots(page.locator("#browser-wrap"), "ui_igv")
    shots(page, "ui_job")
    # nothing was fetched from outside the server (igv.js vendored; no genome lists, no CDN)
    assert browser.outside == []
    assert browser.errors == []


def test_files_report_and_explain(design_page, api_server):
    page, job_id = design_page
    files = page.locator("#job-files a").all_inner_texts()
    assert {"guides.tsv", "guides.bed", "guides.html"} <= set(files)
    assert page.is_visible("#report-link")
    with page.expect_popup() as popup:
        page.click("#report-link")
    report = popup.value
    report.wait_for_load_state()
    assert report.url.startswith("blob:")
    assert "ecoli_slice" in report.content()
    report.close()
    with api(api_server) as c:
        offered = {t["name"] for t in c.get("/v1/tasks").json()}
    if "explain-run" not in offered:
        pytest.skip("the explain-run task is not registered in this build")
    page.click("#explain-job")
    page.wait_for_function(f"!location.hash.endsWith('{job_id}') && location.hash.startsWith('#/jobs/')")
    new_id = page.url.rsplit("/", 1)[-1]
    page.wait_for_function(f"document.querySelector('#job-id').textContent === '{new_id}'")
    assert page.inner_text("#job-task") == "explain-run"
    with api(api_server) as c:
        assert c.get(f"/v1/jobs/{new_id}").json()["params"]["run_dir"] == f"jobs/{job_id}"


def test_wrong_token_asks_again(api_server, browser):
    page = new_page(browser)
    login(page, api_server, "not-the-token")
    page.wait_for_selector("#login:not([hidden])")
    page.wait_for_function("document.querySelector('#message').textContent.includes('refused the token')")
    assert page.evaluate("sessionStorage.getItem('genolm-token')") is None
    page.close()


@pytest.mark.slow
def test_scored_vcf_table_and_track(api_server, browser, shots):
    """A variants.score job (motif scorer, 40 BRCA1 SGE variants): the VCF's records in the table with their
    GENOLM_SCORE, and an indexed VCF track on the indexed (.fai/.gzi) BRCA1 reference, coloured by the score."""
    vcf = gzip.decompress((DATA / "variants" / "brca1_sge_subset.vcf.gz").read_bytes()).decode()
    lines = vcf.splitlines()
    small = "\n".join([x for x in lines if x.startswith("#")] + [x for x in lines if not x.startswith("#")][:40]) + "\n"
    motifs = (
        Path(__file__).resolve().parents[2] / "src/genolm/data/motifs/JASPAR2022_CORE_vertebrates_non-redundant.meme"
    )
    with api(api_server) as c:
        up = [
            c.post("/v1/uploads", files={"file": (n, b)}).json()["path"]
            for n, b in [("small.vcf", small.encode()), ("jaspar.meme", motifs.read_bytes())]
        ]
        params = {
            "model": up[1],
            "method": "motif",
            "reference": "data/variants/brca1_slice.fa.gz",
            "input": up[0],
            "out": "scored.vcf.gz",
        }
        job = c.post("/v1/jobs/variants.score", json=params).raise_for_status().json()
    page = new_page(browser)
    login(page, api_server, api_server.token)
    page.wait_for_selector("#new-job:not([hidden])")
    page.evaluate(f"location.hash = '#/jobs/{job['id']}'")
    page.wait_for_selector("body[data-job-done]", timeout=120_000)
    assert page.get_attribute("#job-state", "data-state") == "succeeded", page.inner_text("#job")
    page.wait_for_function("window.genolmBrowser && window.genolmBrowser.findTracks(t => t.type === 'variant').length")
    with api(api_server) as c:
        scored = gzip.decompress(c.get(f"/v1/jobs/{job['id']}/files/scored.vcf.gz").content).decode()
    records = [x.split("\t") for x in scored.splitlines() if not x.startswith("#")]
    scores = [dict(kv.split("=", 1) for kv in r[7].split(";") if "=" in kv)["GENOLM_SCORE"] for r in records]
    assert len(records) == 40
    assert page.inner_text("#table-count") == "40 of 40 rows"
    assert column(page, "GENOLM_SCORE") == scores
    assert column(page, "POS") == [r[1] for r in records]
    got = page.evaluate(
        """() => {
            const b = window.genolmBrowser;
            const t = b.findTracks(t => t.type === 'variant')[0];
            const f = t.trackView.viewports[0].featureCache.features;
            return {name: t.name, n: f.length,
                    colors: Object.fromEntries(f.map(x => [x.names, t.getColorForFeature(x)])), index: t.config.indexURL || ''};
        }"""
    )
    assert got["name"] == "scored.vcf.gz" and got["index"].endswith("scored.vcf.gz.tbi")
    assert got["n"] == 40
    # red where GENOLM_SCORE < 0 (motif sites weakened), blue where > 0, full colour at the largest |score|
    scale = max(abs(float(x)) for x in scores)

    def expected(score: float) -> str:
        fade = math.floor(200 * (1 - min(1.0, abs(score) / scale)) + 0.5)
        return f"rgb(220, {fade}, {fade})" if score < 0 else f"rgb({fade}, {fade}, 220)"

    assert got["colors"] == {r[2]: expected(float(x)) for r, x in zip(records, scores)}
    assert {"rgb(220, 0, 0)", "rgb(0, 0, 220)"} & set(got["colors"].values())
    shots(page, "ui_variants")
    assert browser.outside == []
    page.close()
