// The results table: a TSV/CSV result (guides, variant scores, predictions) shown sortable and filterable.

import { spanLocus } from "./browser.js";

const MAX_ROWS = 5000; // rendered rows; the count line says when a file has more

/** Split delimited text into rows; CSV fields may be quoted ("a,b" and "" escapes), TSV fields are not. */
export function parseDelimited(text, delimiter) {
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  const rows = [];
  for (const line of lines) {
    if (line === "" || line.startsWith("##")) continue;
    rows.push(delimiter === "\t" ? line.split("\t") : splitCsvLine(line));
  }
  return rows;
}

function splitCsvLine(line) {
  const out = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  out.push(cur);
  return out;
}

/** A VCF as a table: CHROM POS ID REF ALT QUAL FILTER, then one column per INFO field (GENOLM_* first). */
export function vcfToRows(text) {
  const declared = [];
  const records = [];
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    if (line.startsWith("##INFO=<ID=")) declared.push(line.slice(11).split(",")[0]);
    if (line === "" || line.startsWith("#")) continue;
    const c = line.split("\t");
    const info = {};
    for (const kv of (c[7] || "").split(";")) {
      if (!kv || kv === ".") continue;
      const eq = kv.indexOf("=");
      info[eq < 0 ? kv : kv.slice(0, eq)] = eq < 0 ? "true" : kv.slice(eq + 1);
    }
    records.push([c.slice(0, 7), info]);
  }
  const seen = new Set(declared);
  for (const [, info] of records) {
    for (const k of Object.keys(info)) {
      if (seen.has(k)) continue;
      seen.add(k);
      declared.push(k);
    }
  }
  const keys = [...declared.filter((k) => k.startsWith("GENOLM_")), ...declared.filter((k) => !k.startsWith("GENOLM_"))];
  const header = ["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", ...keys];
  return [header, ...records.map(([fixed, info]) => [...fixed, ...keys.map((k) => info[k] ?? "")])];
}

const isGzip = (b, at = 0) => b.length > at + 2 && b[at] === 0x1f && b[at + 1] === 0x8b;

/** BGZF (bgzip: .vcf.gz, .bed.gz) is a series of gzip members, each giving its size in a "BC" extra field;
 * Chromium's DecompressionStream stops at the end of the first member, so each member is inflated alone. */
function gzipMembers(b) {
  const members = [];
  let at = 0;
  while (isGzip(b, at)) {
    const bgzf = (b[at + 3] & 4) !== 0 && b[at + 12] === 66 && b[at + 13] === 67;
    if (!bgzf) {
      members.push(b.subarray(at)); // plain gzip: a single member to the end
      break;
    }
    const size = (b[at + 16] | (b[at + 17] << 8)) + 1;
    members.push(b.subarray(at, at + size));
    at += size;
  }
  return members;
}

async function inflate(member) {
  const stream = new Blob([member]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Text of a result file's bytes; gzip and BGZF are inflated in the browser. */
export async function decodeText(buffer) {
  const b = new Uint8Array(buffer);
  if (!isGzip(b)) return new TextDecoder().decode(b);
  const parts = await Promise.all(gzipMembers(b).map(inflate));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return new TextDecoder().decode(out);
}

function compareCells(a, b) {
  const x = a === "" ? NaN : Number(a);
  const y = b === "" ? NaN : Number(b);
  const nx = Number.isNaN(x);
  const ny = Number.isNaN(y);
  if (!nx && !ny) return x - y;
  if (nx && ny) return a.localeCompare(b, undefined, { numeric: true });
  return nx ? 1 : -1; // numbers before empty/text cells
}

export class ResultsTable {
  constructor(table, filterInput, countEl) {
    this.table = table;
    this.filterInput = filterInput;
    this.countEl = countEl;
    this.header = [];
    this.rows = [];
    this.sortCol = -1;
    this.sortDir = 1;
    filterInput.addEventListener("input", () => this.render());
  }

  load(text, name) {
    const lower = name.toLowerCase().replace(/\.gz$/, "");
    const rows = lower.endsWith(".vcf") ? vcfToRows(text) : parseDelimited(text, lower.endsWith(".csv") ? "," : "\t");
    if (rows.length && rows[0][0].startsWith("#")) rows[0][0] = rows[0][0].replace(/^#+/, ""); // "#CHROM"-style headers
    this.header = rows.shift() || [];
    this.rows = rows;
    this.sortCol = -1;
    this.sortDir = 1;
    this.filterInput.value = "";
    this.renderHead();
    this.render();
  }

  /** The genomic span of the rows ("chr:lo-hi", 1-based) from chrom/start/end (BED-like) or CHROM/POS columns. */
  span() {
    const h = this.header.map((x) => x.toLowerCase());
    const c = h.indexOf("chrom");
    const s = h.indexOf("start");
    const e = h.indexOf("end");
    const p = h.indexOf("pos");
    if (c < 0 || (p < 0 && (s < 0 || e < 0))) return undefined;
    const iv = this.rows.map((r) => (p >= 0 && s < 0 ? [r[c], Number(r[p]) - 1, Number(r[p])] : [r[c], Number(r[s]), Number(r[e])]));
    return spanLocus(iv);
  }

  /** The largest |value| of a numeric column (multi-allelic "a,b" cells included), or undefined. */
  maxAbs(name) {
    const i = this.header.indexOf(name);
    if (i < 0) return undefined;
    const values = this.rows.flatMap((r) => String(r[i] ?? "").split(",")).map(Number).filter(Number.isFinite);
    return values.length ? Math.max(...values.map(Math.abs)) : undefined;
  }

  renderHead() {
    const tr = document.createElement("tr");
    this.header.forEach((name, i) => {
      const th = document.createElement("th");
      th.textContent = name;
      th.dataset.col = String(i);
      th.title = "click to sort";
      th.setAttribute("aria-sort", "none");
      th.addEventListener("click", () => this.sortBy(i));
      tr.append(th);
    });
    this.table.tHead.replaceChildren(tr);
  }

  sortBy(col) {
    this.sortDir = this.sortCol === col ? -this.sortDir : 1;
    this.sortCol = col;
    for (const th of this.table.tHead.querySelectorAll("th")) {
      const on = Number(th.dataset.col) === col;
      th.setAttribute("aria-sort", on ? (this.sortDir > 0 ? "ascending" : "descending") : "none");
      th.classList.toggle("sorted", on);
    }
    this.render();
  }

  visibleRows() {
    const q = this.filterInput.value.trim().toLowerCase();
    let rows = q ? this.rows.filter((r) => r.some((c) => c.toLowerCase().includes(q))) : this.rows.slice();
    if (this.sortCol >= 0) {
      const c = this.sortCol;
      rows.sort((a, b) => this.sortDir * compareCells(a[c] ?? "", b[c] ?? ""));
    }
    return rows;
  }

  render() {
    const rows = this.visibleRows();
    const body = document.createElement("tbody");
    for (const r of rows.slice(0, MAX_ROWS)) {
      const tr = document.createElement("tr");
      for (let i = 0; i < this.header.length; i++) {
        const td = document.createElement("td");
        td.textContent = r[i] ?? "";
        tr.append(td);
      }
      body.append(tr);
    }
    this.table.tBodies[0].replaceWith(body);
    const shown = Math.min(rows.length, MAX_ROWS);
    this.countEl.textContent =
      `${rows.length} of ${this.rows.length} rows` + (shown < rows.length ? ` (first ${shown} shown)` : "");
  }
}
