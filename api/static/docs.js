// Renders /openapi.json: operations grouped by tag, their parameters, bodies, responses and schemas.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// `code` spans in descriptions become <code>; everything else stays text.
function rich(text) {
  if (!text) return [];
  return text.split("`").map((part, i) => (i % 2 ? el("code", {}, part) : part));
}

function refName(ref) {
  return ref.split("/").pop();
}

const code = (value) => el("code", {}, JSON.stringify(value));
const join = (parts, sep) => parts.flatMap((p, i) => (i ? [sep, p] : [p]));

// The one-line type of a schema: a link for a $ref, the type with its format and bounds,
// the values of an enum or a const. Structure (properties, items, maps) is schemaTree's.
function typeLabel(schema) {
  if (!schema || !Object.keys(schema).length) return "any";
  if (schema.$ref) return el("a", { href: `#schema-${refName(schema.$ref)}` }, refName(schema.$ref));
  if (schema.$name) return el("a", { href: `#schema-${schema.$name}` }, schema.$name);
  const alternatives = schema.anyOf || schema.oneOf;
  if (alternatives) return el("span", {}, ...join(alternatives.map(typeLabel), " or "));
  if (schema.allOf) return el("span", {}, ...join(schema.allOf.map(typeLabel), " and "));
  if ("const" in schema) return el("span", {}, "always ", code(schema.const));
  if (schema.enum) return el("span", {}, "one of ", ...join(schema.enum.map(code), ", "));
  if (schema.type === "array") return el("span", {}, "array of ", typeLabel(schema.items));
  if (schema.type === "object" && isMap(schema)) return el("span", {}, "map of string to ", typeLabel(schema.additionalProperties));
  const bits = [Array.isArray(schema.type) ? schema.type.join(" or ") : schema.type || "any"];
  if (schema.format) bits.push(`(${schema.format})`);
  if (schema.minimum !== undefined && schema.maximum !== undefined) bits.push(`${schema.minimum} to ${schema.maximum}`);
  else if (schema.minimum !== undefined) bits.push(`≥ ${schema.minimum}`);
  else if (schema.maximum !== undefined) bits.push(`≤ ${schema.maximum}`);
  const label = el("span", {}, bits.join(" "));
  if (schema.pattern) label.append(" matching ", el("code", {}, schema.pattern));
  return label;
}

function isMap(schema) {
  return !schema.properties && schema.additionalProperties && typeof schema.additionalProperties === "object";
}

// The schemas a value's shape is made of: object properties, array items, map values, anyOf members.
function children(schema) {
  if (!schema || schema.$ref) return [];
  if (schema.properties) return [schema];
  if (schema.type === "array") return children(schema.items);
  if (isMap(schema)) return children(schema.additionalProperties);
  return [...(schema.anyOf || schema.oneOf || []), ...(schema.allOf || [])].flatMap(children);
}

// A schema as a nested list: every property with its type, whether it is required, its
// default and description, and, inside, the properties of nested objects, array items and maps.
function schemaTree(schema) {
  const node = el("div", { class: "schema-node" }, el("span", { class: "type" }, typeLabel(schema)));
  for (const obj of children(schema)) {
    const required = new Set(obj.required || []);
    node.append(el("ul", { class: "schema" }, Object.entries(obj.properties).map(([name, sub]) => el("li", {},
      el("code", { class: "prop" }, name),
      required.has(name) ? el("span", { class: "req", title: "required" }, " (required)") : null,
      ": ", schemaTree(sub),
      sub.default !== undefined ? el("span", { class: "desc" }, " Default ", code(sub.default), ".") : null,
      sub.description ? el("span", { class: "desc" }, " ", ...rich(sub.description)) : null))));
    if (obj.additionalProperties === false) node.append(el("p", { class: "desc small" }, "No other fields."));
  }
  return node;
}

// A referenced schema shown in place (request bodies), keeping its name as a link.
function resolve(schema, doc) {
  if (!schema.$ref) return schema;
  const name = refName(schema.$ref);
  return { ...doc.components.schemas[name], $name: name };
}

function security(op, doc) {
  const reqs = op.security || doc.security || [];
  if (!reqs.length || (reqs.length === 1 && !Object.keys(reqs[0]).length)) return "none (public)";
  const names = reqs.map((r) => Object.keys(r)[0]).filter(Boolean);
  const optional = reqs.some((r) => !Object.keys(r).length);
  return `${names.join(" or ")}${optional ? " (only when the server has API keys)" : ""}`;
}

function operation(path, method, op, pathItem, doc) {
  const params = [...(pathItem.parameters || []), ...(op.parameters || [])];
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, ...rich(op.description)));
  body.append(el("p", { class: "small muted" }, "Auth: ", security(op, doc)));
  if (params.length) {
    body.append(el("h3", {}, "Parameters"), el("table", { class: "params" },
      el("tr", {}, el("th", {}, "Name"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Description")),
      params.map((p) => el("tr", {},
        el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, "*") : null),
        el("td", {}, p.in), el("td", {}, typeLabel(p.schema)), el("td", {}, ...rich(p.description || ""))))));
  }
  if (op.requestBody) {
    body.append(el("h3", {}, "Request body"), el("table", { class: "bodies" },
      Object.entries(op.requestBody.content).map(([type, media]) => el("tr", {},
        el("td", {}, el("code", {}, type)), el("td", {}, schemaTree(resolve(media.schema, doc)))))));
  }
  body.append(el("h3", {}, "Responses"), el("table", { class: "responses" },
    el("tr", {}, el("th", {}, "Status"), el("th", {}, "Description"), el("th", {}, "Body")),
    Object.entries(op.responses).map(([code, resp]) => el("tr", {},
      el("td", {}, el("span", { class: `code s${code[0]}` }, code)),
      el("td", {}, ...rich(resp.description)),
      el("td", {}, resp.content
        ? Object.entries(resp.content).map(([type, media]) => el("div", {}, el("code", {}, type), " ",
          schemaTree(media.schema)))
        : "–")))));
  return el("details", { class: "op", id: `op-${op.operationId || method + path}` },
    el("summary", {}, el("span", { class: `method ${method}` }, method), el("span", { class: "path" }, path),
      el("span", { class: "summary" }, op.summary || "")),
    body);
}

async function main() {
  const resp = await fetch("/openapi.json");
  const doc = await resp.json();
  document.title = `${doc.info.title} API`;
  document.getElementById("title").textContent = `${doc.info.title} API`;
  document.getElementById("summary").textContent = `${doc.info.summary || ""} Version ${doc.info.version}.`;
  document.getElementById("description").replaceChildren(...rich(doc.info.description));
  document.getElementById("version").textContent = doc.openapi;
  const schemes = doc.components.securitySchemes || {};
  document.getElementById("auth").replaceChildren("Authentication: ",
    ...Object.entries(schemes).flatMap(([name, s], i) => [i ? " · " : "", el("strong", {}, name), " — ",
      ...rich(s.description || s.type)]));

  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
      byTag.get(tag).ops.push(operation(path, method, op, item, doc));
    }
  }
  const ops = document.getElementById("operations");
  const toc = document.getElementById("toc");
  for (const { tag, ops: nodes } of byTag.values()) {
    if (!nodes.length) continue;
    toc.append(el("a", { href: `#tag-${tag.name}` }, tag.name));
    ops.append(el("h2", { class: "tag-title", id: `tag-${tag.name}` }, tag.name),
      tag.description ? el("p", { class: "muted" }, tag.description) : null, ...nodes);
  }
  const schemas = document.getElementById("schemas");
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    schemas.append(el("div", { id: `schema-${name}`, class: "schema-def" }, el("h3", {}, name),
      schema.description ? el("p", { class: "desc" }, ...rich(schema.description)) : null, schemaTree(schema)));
  }
  if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
  document.body.dataset.rendered = "true";
}

main().catch((err) => {
  document.getElementById("summary").textContent = `Could not render /openapi.json: ${err.message}`;
});
