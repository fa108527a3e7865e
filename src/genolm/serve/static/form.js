// A job form generated from a task's JSON schema (GET /v1/tasks): one field per parameter, with its type,
// default, bounds, description and required flag; file parameters get a data-dir path field and an upload button.

import { post } from "./api.js";

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "className") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function fieldType(spec) {
  if (spec.type === "array") return "array";
  if (spec.enum) return "enum";
  return spec.type || "string";
}

function inputFor(key, spec, kind) {
  const id = `param-${key}`;
  if (kind === "boolean") {
    return el("input", { id, name: key, type: "checkbox", checked: spec.default === true });
  }
  if (kind === "enum") {
    const s = el("select", { id, name: key });
    s.append(el("option", { value: "", text: "—" }));
    for (const v of spec.enum) s.append(el("option", { value: v, text: v, selected: v === spec.default }));
    return s;
  }
  const attrs = { id, name: key, autocomplete: "off" };
  if (kind === "integer" || kind === "number") {
    Object.assign(attrs, { type: "number", step: kind === "integer" ? "1" : "any" });
    if (spec.minimum !== undefined) attrs.min = spec.minimum;
    if (spec.maximum !== undefined) attrs.max = spec.maximum;
  } else {
    attrs.type = "text";
  }
  if (spec.default !== undefined) {
    attrs.value = Array.isArray(spec.default) ? spec.default.join(", ") : spec.default;
  }
  const path = spec["x-genolm-path"];
  if (path === "in") attrs.placeholder = "path in the data directory, e.g. data/… or jobs/<id>/…";
  else if (path === "out") attrs.placeholder = "file name inside the job directory (optional)";
  else if (kind === "array") attrs.placeholder = "comma-separated values";
  return el("input", attrs);
}

function uploadButton(input, onError) {
  const file = el("input", { type: "file", className: "upload-input", "aria-label": `upload for ${input.name}` });
  const button = el("button", { type: "button", className: "upload", text: "Upload…" });
  button.addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    if (!file.files.length) return;
    const body = new FormData();
    body.append("file", file.files[0]);
    button.disabled = true;
    button.textContent = "Uploading…";
    try {
      const r = await post("/v1/uploads", body);
      input.value = r.path;
    } catch (e) {
      onError(`upload failed: ${e.message}`);
    } finally {
      button.disabled = false;
      button.textContent = "Upload…";
      file.value = "";
    }
  });
  return [button, file];
}

/** Fill `container` with one field per schema property; returns a function that reads the values as JSON. */
export function buildForm(container, schema, onError) {
  container.replaceChildren();
  const required = new Set(schema.required || []);
  const props = schema.properties || {};
  // required parameters first, the rest in declaration order
  const keys = Object.keys(props).sort((a, b) => required.has(b) - required.has(a));
  for (const key of keys) {
    const spec = props[key];
    const kind = fieldType(spec);
    const input = inputFor(key, spec, kind);
    input.dataset.kind = kind;
    if (spec.type === "array") input.dataset.items = (spec.items && spec.items.type) || "string";
    if (required.has(key)) input.required = true;
    const label = el("label", { for: input.id }, key, required.has(key) ? el("span", { className: "req", text: " *" }) : null);
    const controls = el("div", { className: "controls" }, input);
    if (spec["x-genolm-path"] === "in") controls.append(...uploadButton(input, onError));
    const help = [spec.description, spec.default !== undefined ? `default: ${JSON.stringify(spec.default)}` : null]
      .filter(Boolean)
      .join(" · ");
    const bounds = [spec.minimum !== undefined ? `≥ ${spec.minimum}` : null, spec.maximum !== undefined ? `≤ ${spec.maximum}` : null]
      .filter(Boolean)
      .join(", ");
    container.append(
      el("div", { className: "field", "data-param": key }, label, controls, el("small", { className: "muted", text: [help, bounds].filter(Boolean).join(" · ") }))
    );
  }
  return () => readForm(container, props, required);
}

function coerce(raw, type) {
  if (type === "integer" || type === "number") {
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw; // the server names the parameter if it is not a number
  }
  if (type === "boolean") return raw === "true" || raw === true;
  return raw;
}

function readForm(container, props, required) {
  const params = {};
  const missing = [];
  for (const input of container.querySelectorAll("input[name], select[name]")) {
    const key = input.name;
    const spec = props[key];
    const kind = input.dataset.kind;
    if (kind === "boolean") {
      if (input.checked !== (spec.default === true)) params[key] = input.checked;
      continue;
    }
    const raw = input.value.trim();
    if (raw === "") {
      if (required.has(key) && spec["x-genolm-path"] !== "out") missing.push(key);
      continue;
    }
    if (kind === "array") {
      params[key] = raw.split(/\s*,\s*/).filter((s) => s !== "").map((s) => coerce(s, input.dataset.items));
    } else {
      params[key] = coerce(raw, kind);
    }
  }
  return { params, missing };
}
