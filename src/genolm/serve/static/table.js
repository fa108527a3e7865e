// The results table: a TSV/CSV result (guides, variant scores, predictions) shown sortable and filterable.

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
    const rows = parseDelimited(text, name.toLowerCase().endsWith(".csv") ? "," : "\t");
    if (rows.length && rows[0][0].startsWith("#")) rows[0][0] = rows[0][0].replace(/^#+/, ""); // "#CHROM"-style headers
    this.header = rows.shift() || [];
    this.rows = rows;
    this.sortCol = -1;
    this.sortDir = 1;
    this.filterInput.value = "";
    this.renderHead();
    this.render();
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
