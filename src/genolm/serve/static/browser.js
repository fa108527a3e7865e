// The genome browser: igv.js (vendored, global `igv`) on the job's reference FASTA, served by GET /v1/data/{path},
// with one track per result file it can draw (GFF3 annotations, bedGraph scans/attributions, BED guides/peaks,
// VCF variants coloured by GENOLM_SCORE). igv.js fetches everything itself, so it gets the bearer token as headers.

import { apiUrl, authHeaders, encodePath, fetchText } from "./api.js";

const TRACK_KINDS = [
  // [suffix regexp, igv type, igv format]
  [/\.gff3?(\.gz)?$/i, "annotation", "gff3"],
  [/\.gtf(\.gz)?$/i, "annotation", "gtf"],
  [/\.(bedgraph|bdg)(\.gz)?$/i, "wig", "bedgraph"],
  [/\.(bw|bigwig)$/i, "wig", "bigwig"],
  [/\.wig(\.gz)?$/i, "wig", "wig"],
  [/\.(narrowpeak|broadpeak)(\.gz)?$/i, "annotation", "narrowPeak"],
  [/\.bed(\.gz)?$/i, "annotation", "bed"],
  [/\.vcf(\.gz)?$/i, "variant", "vcf"],
];
const MAX_TRACKS = 8;
const GUIDE_COLOR = "rgb(0, 110, 200)";

/** The reference FASTA of a job: its `reference` (or `genome`) parameter, a data-dir relative path. */
export function referenceOf(job) {
  const p = job.params || {};
  for (const key of ["reference", "genome", "fasta"]) {
    const v = p[key];
    if (typeof v === "string" && /\.(fa|fasta|fna)(\.gz)?$/i.test(v)) return v;
  }
  return null;
}

/** Red for damaging (GENOLM_SCORE < 0: ALT less likely than REF, sites weakened), blue for > 0, full colour at
 * |score| >= scale (the largest |GENOLM_SCORE| of the job's results table, else 2). */
export function scoreColor(score, scale = 2) {
  if (!Number.isFinite(score)) return "rgb(150, 150, 150)";
  const t = Math.min(1, Math.abs(score) / (scale > 0 ? scale : 2));
  const fade = Math.round(200 * (1 - t));
  return score < 0 ? `rgb(220, ${fade}, ${fade})` : `rgb(${fade}, ${fade}, 220)`;
}

const variantColor = (scale) => (variant) => {
  const v = variant._f || variant;
  const raw = v.getAttributeValue ? v.getAttributeValue("GENOLM_SCORE") : undefined;
  if (raw === undefined) return "rgb(150, 150, 150)";
  const scores = String(raw).split(",").map(Number).filter(Number.isFinite);
  // a multi-allelic record is drawn by its most extreme allele
  if (!scores.length) return scoreColor(NaN);
  return scoreColor(
    scores.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)),
    scale,
  );
};

/** igv.js track configs for the job's result files (index files next to a result make it an indexed track). */
export function trackConfigs(jobId, files, scoreScale) {
  const have = new Set(files);
  const tracks = [];
  for (const f of files) {
    const kind = TRACK_KINDS.find(([re]) => re.test(f));
    if (!kind) continue;
    const [, type, format] = kind;
    const cfg = {
      name: escapeHtml(f), // igv.js sets a track label with innerHTML
      type,
      format,
      url: apiUrl(`/v1/jobs/${jobId}/files/${encodePath(f)}`),
      headers: authHeaders(),
    };
    const index = [".tbi", ".csi"].map((s) => f + s).find((i) => have.has(i));
    if (index) cfg.indexURL = apiUrl(`/v1/jobs/${jobId}/files/${encodePath(index)}`);
    else if (format !== "bigwig") cfg.indexed = false;
    if (type === "variant") cfg.color = variantColor(scoreScale);
    if (format === "bed") {
      cfg.color = GUIDE_COLOR;
      cfg.displayMode = "EXPANDED";
      cfg.height = 140;
    }
    tracks.push(cfg);
    if (tracks.length === MAX_TRACKS) break;
  }
  return tracks;
}

/** The reference config: indexed when a .fai (and for .gz a .gzi) sits beside the FASTA, else loaded whole. */
async function referenceConfig(path) {
  const url = apiUrl(`/v1/data/${encodePath(path)}`);
  const cfg = { id: path, name: path.split("/").pop(), fastaURL: url, headers: authHeaders() };
  const exists = async (p) => {
    try {
      const r = await fetch(apiUrl(`/v1/data/${encodePath(p)}`), { method: "HEAD", headers: authHeaders() });
      return r.ok;
    } catch {
      return false;
    }
  };
  const gz = /\.gz$/i.test(path);
  if ((await exists(`${path}.fai`)) && (!gz || (await exists(`${path}.gzi`)))) {
    cfg.indexURL = apiUrl(`/v1/data/${encodePath(path)}.fai`);
    try {
      // open on the first 10 kb of the first sequence when nothing better is known
      const [name, length] = (await fetchText(`/v1/data/${encodePath(path)}.fai`)).split("\n")[0].split("\t");
      cfg.firstLocus = `${name}:1-${Math.min(Number(length), 10000)}`;
    } catch {
      // igv.js picks its own start
    }
    if (gz) cfg.compressedIndexURL = apiUrl(`/v1/data/${encodePath(path)}.gzi`);
  } else if (gz) {
    // igv.js reads a non-indexed FASTA as text: a gzipped one is handed over as a gzip data URL, which it inflates
    cfg.fastaURL = await gzipDataUrl(url);
    cfg.indexed = false;
  } else {
    cfg.indexed = false;
  }
  return cfg;
}

const MAX_WHOLE_FASTA = 64 * 1024 * 1024; // bytes; larger references need a .fai (samtools faidx)

async function gzipDataUrl(url) {
  const r = await fetch(url, { headers: authHeaders() });
  if (!r.ok) throw new Error(`reference: HTTP ${r.status}`);
  const blob = await r.blob();
  if (blob.size > MAX_WHOLE_FASTA) throw new Error("reference too large to load without an index: bgzip + samtools faidx it");
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(new Blob([blob], { type: "application/gzip" }));
  });
}

const LOCUS_RE = /^[^:\s]+:\d[\d,]*-\d[\d,]*$/;

/** "chr:lo-hi" around 0-based half-open intervals [[chrom, start, end], ...] of the first chromosome (padded). */
export function spanLocus(intervals) {
  let chrom = null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const [c, s, e] of intervals) {
    if (chrom === null) chrom = c;
    if (c !== chrom || !Number.isFinite(s) || !Number.isFinite(e)) continue;
    lo = Math.min(lo, s);
    hi = Math.max(hi, e);
  }
  if (chrom === null || !Number.isFinite(lo)) return undefined;
  const pad = Math.max(20, Math.round((hi - lo) * 0.05));
  return `${chrom}:${Math.max(1, lo + 1 - pad)}-${hi + pad}`;
}

/** A locus to open at: the job's `region` parameter, else `hint` (the results table's span), else the span of the
 * first BED result. */
async function initialLocus(job, tracks, hint) {
  const region = job.params && job.params.region;
  if (typeof region === "string" && LOCUS_RE.test(region)) return region;
  if (hint && LOCUS_RE.test(hint)) return hint;
  const bed = tracks.find((t) => t.format === "bed" && !/\.gz$/i.test(t.name));
  if (!bed) return undefined;
  try {
    const text = await fetchText(`/v1/jobs/${job.id}/files/${encodePath(bed.name)}`);
    const rows = text.split("\n").filter((l) => l && !/^(track|browser|#)/.test(l));
    return spanLocus(rows.map((l) => l.split("\t")).map(([c, s, e]) => [c, Number(s), Number(e)]));
  } catch {
    return undefined;
  }
}

let current = null;

/** Show the job in igv.js; returns the browser (exposed as window.genolmBrowser for tests), or null. */
export async function showBrowser(container, job, files, hint, scoreScale) {
  if (current) {
    igv.removeBrowser(current);
    current = null;
    window.genolmBrowser = null;
  }
  container.replaceChildren();
  const ref = referenceOf(job);
  if (!ref || typeof igv === "undefined") return null;
  const tracks = trackConfigs(job.id, files, scoreScale);
  const options = {
    reference: await referenceConfig(ref),
    tracks,
    showCenterGuide: false,
    loadDefaultGenomes: false, // offline: no igv.org genome list
    genomeList: [],
    showChromosomeWidget: true,
  };
  const locus = (await initialLocus(job, tracks, hint)) || options.reference.firstLocus;
  delete options.reference.firstLocus;
  if (locus) options.locus = locus;
  current = await igv.createBrowser(container, options);
  window.genolmBrowser = current;
  return current;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}
