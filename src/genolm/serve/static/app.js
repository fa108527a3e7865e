// genolm web UI: token prompt, task forms from the registry schemas, job pages (progress, log, files, report,
// igv.js browser, results table), job list. Plain ES modules, no build step; every call goes to the REST API.

import { ApiError, apiUrl, authHeaders, del, encodePath, get, getToken, openFile, post, setToken } from "./api.js";
import { showBrowser } from "./browser.js";
import { buildForm } from "./form.js";
import { decodeText, ResultsTable } from "./table.js";

const $ = (id) => document.getElementById(id);
const FINAL = new Set(["succeeded", "failed", "cancelled"]);
const TABLE_RE = /\.(tsv|csv|vcf)(\.gz)?$/i;
const POLL_MS = 1000;

let tasks = [];
let readForm = null;
let pollTimer = null;
let shownJob = null;
const table = new ResultsTable($("results-table"), $("table-filter"), $("table-count"));

function show(section) {
  for (const id of ["login", "new-job", "job-list", "job"]) $(id).hidden = id !== section;
}

function message(text, kind = "error") {
  const m = $("message");
  m.textContent = text || "";
  m.className = kind;
  m.hidden = !text;
}

function handle(err) {
  if (err instanceof ApiError && err.status === 401) {
    setToken("");
    message("The server refused the token: enter a valid one.");
    route();
    return;
  }
  const param = err instanceof ApiError && err.body.param ? ` (parameter ${err.body.param})` : "";
  message(`${err.message}${param}`);
}

// --- token ----------------------------------------------------------------------------------------------------

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  setToken($("token").value.trim());
  $("token").value = "";
  message("");
  tasks = [];
  route();
});

$("logout").addEventListener("click", () => {
  setToken("");
  tasks = [];
  route();
});

// --- new job --------------------------------------------------------------------------------------------------

function fillTaskSelect() {
  const q = $("task-filter").value.trim().toLowerCase();
  const sel = $("task-select");
  const keep = sel.value;
  sel.replaceChildren();
  for (const t of tasks) {
    if (q && !t.name.toLowerCase().includes(q) && !(t.description || "").toLowerCase().includes(q)) continue;
    const o = document.createElement("option");
    o.value = t.name;
    o.textContent = t.name;
    sel.append(o);
  }
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  selectTask(sel.value);
}

function selectTask(name) {
  const t = tasks.find((x) => x.name === name);
  $("task-description").textContent = t ? t.description || "" : "";
  readForm = t ? buildForm($("fields"), t.schema, (e) => message(e)) : null;
  $("submit-job").disabled = !t;
}

$("task-filter").addEventListener("input", fillTaskSelect);
$("task-select").addEventListener("change", (ev) => {
  history.replaceState(null, "", `#/new/${ev.target.value}`);
  selectTask(ev.target.value);
});

$("job-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!readForm) return;
  const { params, missing } = readForm();
  if (missing.length) {
    message(`required: ${missing.join(", ")}`);
    return;
  }
  const name = $("task-select").value;
  try {
    $("submit-job").disabled = true;
    const job = await post(`/v1/jobs/${encodeURIComponent(name)}`, params);
    message("");
    location.hash = `#/jobs/${job.id}`;
  } catch (e) {
    handle(e);
  } finally {
    $("submit-job").disabled = false;
  }
});

async function showNewJob(taskName) {
  show("new-job");
  if (!tasks.length) tasks = await get("/v1/tasks");
  fillTaskSelect();
  if (taskName && tasks.some((t) => t.name === taskName)) {
    $("task-select").value = taskName;
    selectTask(taskName);
  }
}

// --- job list -------------------------------------------------------------------------------------------------

function jobLink(id) {
  const a = document.createElement("a");
  a.href = `#/jobs/${id}`;
  a.textContent = id;
  return a;
}

async function showJobList() {
  show("job-list");
  const r = await get("/v1/jobs");
  const jobs = Array.isArray(r) ? r : r.jobs || [];
  const body = $("jobs-body");
  body.replaceChildren();
  for (const j of jobs) {
    const tr = document.createElement("tr");
    const cells = [jobLink(j.id), j.task, j.state, j.created || "", j.summary || j.error || ""];
    for (const c of cells) {
      const td = document.createElement("td");
      td.append(c);
      if (c === j.state) td.className = `state ${j.state}`;
      tr.append(td);
    }
    body.append(tr);
  }
}

// --- one job --------------------------------------------------------------------------------------------------

function renderProgress(job) {
  const p = job.progress;
  const bar = $("job-progress");
  if (job.state === "succeeded") {
    bar.value = 1;
    $("job-progress-text").textContent = "done";
  } else if (p && p.fraction !== null && p.fraction !== undefined) {
    bar.value = p.fraction;
    $("job-progress-text").textContent = `${p.desc || ""} ${p.n}/${p.total} (${Math.round(100 * p.fraction)}%)`;
  } else if (p) {
    bar.removeAttribute("value"); // indeterminate
    $("job-progress-text").textContent = `${p.desc || ""} ${p.n}`;
  } else {
    if (FINAL.has(job.state)) bar.value = 0;
    else bar.removeAttribute("value");
    $("job-progress-text").textContent = job.state;
  }
}

function renderJob(job) {
  $("job-id").textContent = job.id;
  const st = $("job-state");
  st.textContent = job.state;
  st.className = `state ${job.state}`;
  st.dataset.state = job.state;
  $("job-task").textContent = job.task;
  $("job-summary").textContent = job.summary || "";
  $("job-params").textContent = JSON.stringify(job.params, null, 2);
  $("job-log").textContent = job.log_tail || "";
  $("job-error").hidden = !job.error;
  $("job-error").textContent = job.error || "";
  $("cancel-job").hidden = FINAL.has(job.state);
  $("explain-job").hidden = job.state !== "succeeded";
  renderProgress(job);
}

function fileItem(job, f) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = f;
  a.dataset.file = f;
  a.addEventListener("click", (ev) => {
    ev.preventDefault();
    openFile(`/v1/jobs/${job.id}/files/${encodePath(f)}`, f, !f.endsWith(".html")).catch(handle);
  });
  li.append(a);
  return li;
}

async function renderResults(job) {
  const files = job.files || (await get(`/v1/jobs/${job.id}/files`)).files || [];
  $("job-files-wrap").hidden = !files.length;
  $("job-files").replaceChildren(...files.map((f) => fileItem(job, f)));
  const report = files.find((f) => f.split("/").pop() === "report.html") || files.find((f) => f.endsWith(".html"));
  const link = $("report-link");
  link.hidden = !report;
  link.onclick = (ev) => {
    ev.preventDefault();
    openFile(`/v1/jobs/${job.id}/files/${encodePath(report)}`, report, false).catch(handle);
  };
  const tables = files.filter((f) => TABLE_RE.test(f));
  $("table-wrap").hidden = !tables.length;
  const sel = $("table-file");
  sel.replaceChildren(...tables.map((f) => Object.assign(document.createElement("option"), { value: f, textContent: f })));
  sel.onchange = () => loadTable(job, sel.value);
  if (tables.length) await loadTable(job, tables[0]);
  $("browser-wrap").hidden = false;
  try {
    const tableShown = tables.length > 0;
    const b = await showBrowser(
      $("igv"),
      job,
      files,
      tableShown ? table.span() : undefined,
      tableShown ? table.maxAbs("GENOLM_SCORE") : undefined,
    );
    $("browser-wrap").hidden = !b;
  } catch (e) {
    $("igv").textContent = `genome browser: ${e.message || e}`;
  }
}

async function loadTable(job, f) {
  const r = await fetch(apiUrl(`/v1/jobs/${job.id}/files/${encodePath(f)}`), { headers: authHeaders() });
  if (!r.ok) throw new ApiError(r.status, { error: `${f}: HTTP ${r.status}` });
  table.load(await decodeText(await r.arrayBuffer()), f);
  $("table-wrap").dataset.file = f;
}

function stopPolling() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
}

async function poll(id) {
  stopPolling();
  try {
    const job = await get(`/v1/jobs/${encodeURIComponent(id)}`);
    if (shownJob !== id) return;
    renderJob(job);
    if (FINAL.has(job.state)) {
      if (job.state === "succeeded") await renderResults(job).catch(handle);
      document.body.dataset.jobDone = job.state;
      return;
    }
  } catch (e) {
    if (shownJob !== id) return;
    handle(e);
    if (e instanceof ApiError && e.status < 500) return;
  }
  pollTimer = setTimeout(() => poll(id), POLL_MS);
}

function showJob(id) {
  show("job");
  shownJob = id;
  delete document.body.dataset.jobDone;
  for (const w of ["job-files-wrap", "browser-wrap", "table-wrap", "report-link"]) $(w).hidden = true;
  $("job-log").textContent = "";
  poll(id);
}

$("cancel-job").addEventListener("click", async () => {
  try {
    renderJob(await del(`/v1/jobs/${encodeURIComponent(shownJob)}`));
  } catch (e) {
    handle(e);
  }
});

$("explain-job").addEventListener("click", async () => {
  try {
    const job = await post("/v1/jobs/explain-run", { run_dir: `jobs/${shownJob}` });
    message(`explain-run submitted as job ${job.id}`, "info");
    location.hash = `#/jobs/${job.id}`;
  } catch (e) {
    handle(e);
  }
});

// --- routing --------------------------------------------------------------------------------------------------

async function route() {
  stopPolling();
  shownJob = null;
  $("logout").hidden = !getToken();
  try {
    const h = await get("/v1/health");
    $("version").textContent = h.version ? `v${h.version}` : "";
  } catch {
    $("version").textContent = "";
  }
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  try {
    if (parts[0] === "jobs" && parts[1]) showJob(decodeURIComponent(parts[1]));
    else if (parts[0] === "jobs") await showJobList();
    else await showNewJob(parts[0] === "new" ? parts[1] : undefined);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      show("login");
      if (getToken()) message("The server refused the token: enter a valid one.");
      setToken("");
      $("logout").hidden = true;
      $("token").focus();
      return;
    }
    handle(e);
  }
}

window.addEventListener("hashchange", route);
route();
