// The REST client of the web UI: bearer token (sessionStorage), JSON calls, authenticated file fetches.

const TOKEN_KEY = "genolm-token";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** Headers for every /v1 request (also handed to igv.js, which fetches reference and tracks itself). */
export function authHeaders() {
  const t = getToken();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** The server root: the page's directory (the UI is mounted at "/", or under a reverse-proxy prefix). */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ""), new URL(".", window.location.href)).href;
}

/** A path with each segment URL-encoded, "/" kept ("data/editing/x y.fa" -> "data/editing/x%20y.fa"). */
export function encodePath(p) {
  return p.split("/").map(encodeURIComponent).join("/");
}

export async function call(method, path, body) {
  const opts = { method, headers: { ...authHeaders() } };
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(apiUrl(path), opts);
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json().catch(() => null) : await r.text();
  if (!r.ok) throw new ApiError(r.status, typeof data === "object" ? data : { error: String(data).slice(0, 300) });
  return data;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const del = (path) => call("DELETE", path);

/** Fetch a result file's text with the token (plain links cannot carry an Authorization header). */
export async function fetchText(path) {
  const r = await fetch(apiUrl(path), { headers: authHeaders() });
  if (!r.ok) throw new ApiError(r.status, { error: `${path}: HTTP ${r.status}` });
  return r.text();
}

/** Open a result file in a new tab (HTML reports) or save it, through an authenticated fetch and a blob URL. */
export async function openFile(path, name, download) {
  const r = await fetch(apiUrl(path), { headers: authHeaders() });
  if (!r.ok) throw new ApiError(r.status, { error: `${name}: HTTP ${r.status}` });
  const blob = await r.blob();
  const type = name.endsWith(".html") ? "text/html" : blob.type || "application/octet-stream";
  const url = URL.createObjectURL(new Blob([blob], { type }));
  const a = document.createElement("a");
  a.href = url;
  if (download) a.download = name.split("/").pop();
  else a.target = "_blank";
  a.rel = "noopener";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
