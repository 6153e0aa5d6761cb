const BT = String.fromCharCode(96);
const main = document.getElementById("reference");
const secrets = { tenant: "", admin: "" };
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}
function prose(text) {
  const p = el("p", { class: "prose" });
  (text || "").split(BT).forEach((part, i) => {
    p.append(i % 2 ? el("code", { text: part }) : part);
  });
  return p;
}
function resolve(doc, item) {
  while (item?.$ref)
    item = item.$ref
      .slice(2)
      .split("/")
      .reduce((o, k) => o[k], doc);
  return item;
}
function example(schema, doc) {
  schema = resolve(doc, schema) || {};
  // A value the API takes as it is: Waveline refuses an empty fileName, say.
  if (Array.isArray(schema.examples) && schema.examples.length > 0) return schema.examples[0];
  if ("default" in schema) return schema.default;
  if (schema.enum) return schema.enum[0];
  if (schema.anyOf) return example(schema.anyOf[0], doc);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (type === "object") {
    const out = {};
    for (const name of schema.required || []) out[name] = example(schema.properties[name], doc);
    return out;
  }
  return { array: [], string: "", integer: 0, number: 0, boolean: false, null: null }[type] ?? null;
}
function credentialFor(op) {
  const schemes = (op.security || []).flatMap((s) => Object.keys(s));
  if (schemes.includes("adminToken")) return "admin";
  return schemes.length ? "tenant" : null;
}
function tryIt(doc, path, method, op) {
  const form = el("form");
  const servers = (op.servers || doc.servers).map((s) => s.url);
  const server = el(
    "select",
    {},
    ...servers.map((url) => el("option", { value: url, text: `base ${url}` })),
  );
  if (servers.length > 1) form.append(el("label", { text: "Served at " }, server));
  const inputs = [];
  for (const p of op.parameters || []) {
    const param = resolve(doc, p);
    const input = el("input", {
      placeholder: param.schema && "default" in param.schema ? String(param.schema.default) : "",
    });
    inputs.push([param, input]);
    form.append(
      el("label", { text: `${param.in} ${param.name}${param.required ? " *" : ""} ` }, input),
    );
  }
  let body = null;
  const media = resolve(doc, op.requestBody)?.content["application/json"];
  if (media) {
    body = el("textarea");
    body.value = JSON.stringify(example(media.schema, doc), null, 2);
    form.append(el("label", { text: "JSON body" }, body));
  }
  const who = credentialFor(op);
  if (who)
    form.append(
      el("p", {
        class: "muted",
        text:
          "Sends the " +
          (who === "admin" ? "admin token" : "tenant credential") +
          " from the top of the page.",
      }),
    );
  const out = el("pre", { text: "" });
  form.append(el("button", { type: "submit", text: `Send ${method.toUpperCase()}` }), out);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let url = path;
    const query = new URLSearchParams();
    const headers = new Headers();
    for (const [param, input] of inputs) {
      if (!input.value) continue;
      if (param.in === "path")
        url = url.replace(`{${param.name}}`, encodeURIComponent(input.value));
      else if (param.in === "query") query.set(param.name, input.value);
      else if (param.in === "header") headers.set(param.name, input.value);
    }
    if (who && secrets[who]) headers.set("Authorization", `Bearer ${secrets[who]}`);
    const init = { method: method.toUpperCase(), headers };
    if (body) {
      headers.set("Content-Type", "application/json");
      init.body = body.value;
    }
    const base = server.value === "/" ? "" : server.value;
    const target = base + url + (query.size ? `?${query}` : "");
    out.textContent = `${init.method} ${target} ...`;
    try {
      const res = await fetch(target, init);
      const text = await res.text();
      let shown = text;
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {}
      const lines = [`${init.method} ${target}`, "", `${res.status} ${res.statusText}`];
      res.headers.forEach((value, name) => {
        lines.push(`${name}: ${value}`);
      });
      if (res.status === 403 && who === "tenant")
        lines.push(`(a browser sends its Origin: the tenant must list ${location.origin})`);
      out.textContent = `${lines.join("\n")}\n\n${shown}`;
    } catch (err) {
      out.textContent = String(err);
    }
  });
  return el("details", {}, el("summary", { text: "Try it" }), form);
}
function operation(doc, path, method, op) {
  const responses = el("table");
  for (const [status, shared] of Object.entries(op.responses)) {
    const r = resolve(doc, shared);
    const media = r.content && Object.values(r.content)[0];
    const ref = media?.schema?.$ref;
    const headers = Object.keys(r.headers || {}).join(", ");
    responses.append(
      el(
        "tr",
        {},
        el("td", {}, el("b", { text: status })),
        el(
          "td",
          {},
          prose(r.description),
          ref ? el("span", { class: "muted", text: `${ref.split("/").pop()} ` }) : null,
          headers ? el("span", { class: "muted", text: `headers: ${headers}` }) : null,
        ),
      ),
    );
  }
  const auth = (op.security || [])
    .map((s) =>
      Object.entries(s)
        .map(([k, v]) => k + (v.length ? ` (${v.join(", ")})` : ""))
        .join(" + "),
    )
    .join(" or ");
  const requestBody = resolve(doc, op.requestBody);
  const media = requestBody?.content["application/json"];
  return el(
    "details",
    { id: op.operationId },
    el(
      "summary",
      {},
      el("span", { class: `m ${method.toUpperCase()}`, text: method.toUpperCase() }),
      el("code", { text: path }),
      ` ${op.summary}`,
    ),
    op.description ? prose(op.description) : null,
    el("p", {
      text:
        "Auth: " +
        (auth || "none") +
        (op.servers
          ? " · also under " +
            op.servers
              .slice(1)
              .map((s) => s.url)
              .join(", ")
          : ""),
    }),
    media
      ? el(
          "details",
          {},
          el("summary", { text: "Request body schema" }),
          requestBody.description ? prose(requestBody.description) : null,
          el("pre", { text: JSON.stringify(media.schema, null, 2) }),
        )
      : null,
    responses,
    tryIt(doc, path, method, op),
  );
}
function secretInput(label, key) {
  const input = el("input", {
    type: "password",
    autocomplete: "off",
    oninput: () => {
      secrets[key] = input.value.trim();
    },
  });
  return el("label", { text: label }, input);
}
async function render() {
  const doc = await (await fetch("/openapi.json")).json();
  main.textContent = "";
  main.append(
    el("h1", { text: doc.info.title }),
    el(
      "p",
      { class: "muted" },
      `OpenAPI ${doc.openapi} · `,
      el("a", { href: "/openapi.json", text: "/openapi.json" }),
    ),
  );
  for (const paragraph of doc.info.description.split("\n\n")) main.append(prose(paragraph));
  main.append(
    el(
      "fieldset",
      {},
      el("legend", { text: "Credentials (kept in this page only)" }),
      secretInput("Tenant API key or browser token", "tenant"),
      secretInput("Admin token", "admin"),
    ),
  );
  for (const tag of doc.tags) {
    main.append(el("h2", { text: tag.name }), el("p", { class: "muted", text: tag.description }));
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item))
        if (op.tags.includes(tag.name)) main.append(operation(doc, path, method, op));
    }
  }
  main.append(el("h2", { text: "Schemas" }));
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    main.append(
      el(
        "details",
        { id: `schema-${name}` },
        el("summary", {}, el("code", { text: name })),
        el("pre", { text: JSON.stringify(schema, null, 2) }),
      ),
    );
  }
}
render().catch((err) => {
  main.textContent = `Could not load /openapi.json: ${err}`;
});
