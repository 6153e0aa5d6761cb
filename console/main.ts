/**
 * The console (public/console/index.html): an operator signs in with the admin token, a tenant
 * with one of its API keys. The credential lives in this module's memory only: never in the URL,
 * the browser's storage or a log; a reload signs out. Built into public/console/console.js by
 * `npm run console` (scripts/console.ts), never into the Worker.
 */
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./console.css";

type Role = "operator" | "tenant";
interface Tenant {
  id: string;
  name: string;
  disabled: boolean;
  budget: { pagesPerMonth: number | null };
}
interface Usage {
  jobsCreated: number;
  jobsCompleted: number;
  jobsFailed: number;
  pagesBilled: number;
  budget: { pagesUsed: number; pagesPerMonth: number | null; remaining: number | null };
}
interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  revokedAt: string | null;
  expiresAt?: string | null;
  lastUsedAt?: string | null;
  scopes?: string[];
}
interface MetricsPoint {
  at: string;
  requests: number;
  cacheHits: number;
  upstreamCalls: number;
  upstreamCallsSaved: number;
  jobsCreated: number;
  pagesBilled: number;
  errors: number;
  webhooks?: { delivered: number; retrying: number; failed: number };
}
interface Metrics {
  series: MetricsPoint[];
  totals: Omit<MetricsPoint, "at">;
}
interface AuditItem {
  at: string;
  actor: string;
  action: string;
  target: string;
}

/** The scopes an API key may have (issue 23's contract). */
const SCOPES = ["jobs:read", "jobs:create", "tokens:mint", "usage:read", "webhooks:manage"];

const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;
const notice = $<HTMLParagraphElement>("#notice");

let session: { role: Role; credential: string } | undefined;
const charts: uPlot[] = [];

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One call to this proxy with the credential in memory; its error body's message if it fails. */
async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  if (!session) throw new ApiError(401, "signed out");
  const headers = new Headers(init.headers);
  headers.set("Authorization", `Bearer ${session.credential}`);
  if (init.body) headers.set("Content-Type", "application/json");
  const response = await fetch(path, { ...init, headers, cache: "no-store", referrer: "" });
  if (response.status === 401) {
    signOut("Signed out: the proxy no longer accepts that credential.");
    throw new ApiError(401, "unauthorized");
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new ApiError(response.status, body.error ?? `HTTP ${response.status}`);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/** A panel whose API is not on this proxy yet (404) says so instead of failing. */
async function optional<T>(path: string): Promise<T | "unavailable"> {
  try {
    return await api<T>(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return "unavailable";
    throw err;
  }
}

function say(message: string, error = false) {
  notice.textContent = message;
  notice.classList.toggle("error", error);
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  attributes: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

const when = (iso: string | null | undefined) =>
  iso ? new Date(iso).toISOString().slice(0, 16).replace("T", " ") : "—";
const pagesAgainst = (used: number, budget: number | null) =>
  budget === null ? `${used} (no budget)` : `${used} / ${budget}`;

function clearCharts() {
  for (const chart of charts.splice(0)) chart.destroy();
}

function chartWidth(container: HTMLElement): number {
  return Math.max(280, Math.min(container.clientWidth || 600, 1060));
}

/** Requests, cache hits, upstream calls made and saved, one point per window. */
function trafficChart(container: HTMLElement, series: MetricsPoint[]) {
  container.replaceChildren();
  const x = series.map((point) => Date.parse(point.at) / 1000);
  const data: uPlot.AlignedData = [
    x,
    series.map((p) => p.requests),
    series.map((p) => p.cacheHits),
    series.map((p) => p.upstreamCalls),
    series.map((p) => p.upstreamCallsSaved),
  ];
  charts.push(
    new uPlot(
      {
        width: chartWidth(container),
        height: 220,
        series: [
          {},
          { label: "Requests", stroke: "#0b5cad", width: 2 },
          { label: "Cache hits", stroke: "#1a7f37", width: 2 },
          { label: "Upstream calls", stroke: "#b42318", width: 2 },
          { label: "Calls saved", stroke: "#8250df", width: 2, dash: [6, 4] },
        ],
        axes: [{}, { label: "per window" }],
      },
      data,
      container,
    ),
  );
}

/** Each tenant's pages this month against its budget, as bars. */
function budgetChart(container: HTMLElement, rows: { name: string; usage: Usage | undefined }[]) {
  container.replaceChildren();
  const names = rows.map((row) => row.name);
  const bars = uPlot.paths.bars?.({ size: [0.6, 64] });
  charts.push(
    new uPlot(
      {
        width: chartWidth(container),
        height: 220,
        title: "Pages billed this month, against the budget",
        scales: { x: { time: false, range: [-0.5, Math.max(0.5, names.length - 0.5)] } },
        series: [
          { label: "Tenant", value: (_, index) => (index === null ? "—" : (names[index] ?? "")) },
          { label: "Pages billed", fill: "#0b5cad88", stroke: "#0b5cad", paths: bars },
          // A mark per tenant, not a line between tenants.
          {
            label: "Budget",
            stroke: "#b42318",
            paths: () => null,
            points: { show: true, size: 9 },
          },
        ],
        axes: [
          {
            splits: () => names.map((_, index) => index),
            values: (_, splits) => splits.map((index) => names[index] ?? ""),
          },
          { label: "pages" },
        ],
      },
      [
        names.map((_, index) => index),
        rows.map((row) => row.usage?.pagesBilled ?? null),
        rows.map((row) => row.usage?.budget.pagesPerMonth ?? null),
      ],
      container,
    ),
  );
}

function summary(items: [string, string][]) {
  $("#summary").replaceChildren(
    ...items.map(([term, value]) => {
      const box = element("div");
      box.append(element("dt", term), element("dd", value));
      return box;
    }),
  );
}

/** The traffic panel from the metrics API: a chart, hit ratio and calls saved, or "not available". */
async function showMetrics(path: string, prefix: [string, string][]) {
  const state = $("#metrics-state");
  const container = $("#traffic-chart");
  const metrics = await optional<Metrics>(path);
  if (metrics === "unavailable") {
    state.textContent = "Traffic metrics are not available on this proxy yet.";
    container.replaceChildren();
    summary(prefix);
    return;
  }
  const { totals } = metrics;
  const hitRatio = totals.requests
    ? `${Math.round((totals.cacheHits / totals.requests) * 100)} %`
    : "—";
  const webhooks = totals.webhooks;
  summary([
    ...prefix,
    ["Requests (24 h)", String(totals.requests)],
    ["Cache hit ratio", hitRatio],
    ["Upstream calls made", String(totals.upstreamCalls)],
    ["Upstream calls saved", String(totals.upstreamCallsSaved)],
    ["Errors", String(totals.errors)],
    ...(webhooks
      ? ([
          [
            "Webhook deliveries",
            `${webhooks.delivered} ok · ${webhooks.retrying} retrying · ${webhooks.failed} failed`,
          ],
        ] as [string, string][])
      : []),
  ]);
  state.textContent = "The last 24 hours, per hour.";
  trafficChart(container, metrics.series);
}

const dayAgo = () => new Date(Date.now() - 24 * 3600_000).toISOString();

// ---- operator ----

async function showOperator() {
  $("#operator").hidden = false;
  $("#audit").hidden = false;
  const { items: tenants } = await api<{ items: Tenant[] }>("/admin/tenants");
  const rows = await Promise.all(
    tenants.map(async (tenant) => {
      const [usage, webhooks] = await Promise.all([
        api<Usage>(`/admin/tenants/${encodeURIComponent(tenant.id)}/usage`).catch(() => undefined),
        optional<{ items: { disabled: boolean }[] }>(
          `/admin/tenants/${encodeURIComponent(tenant.id)}/webhooks`,
        ).catch(() => "unavailable" as const),
      ]);
      return { tenant, name: tenant.name, usage, webhooks };
    }),
  );
  const body = $("#tenants tbody");
  body.replaceChildren(
    ...rows.map(({ tenant, usage, webhooks }) => {
      const row = element("tr", undefined, { "data-tenant": tenant.id });
      const open = element("button", "Open", {
        type: "button",
        class: "secondary",
        "aria-label": `Open ${tenant.name}`,
      });
      open.addEventListener("click", () => void showTenantOfOperator(tenant));
      const health =
        webhooks === "unavailable"
          ? "—"
          : webhooks.items.length === 0
            ? "none"
            : `${webhooks.items.filter((w) => !w.disabled).length} of ${webhooks.items.length} active`;
      const cells = [
        element("th", `${tenant.name}${tenant.disabled ? " (disabled)" : ""}`, { scope: "row" }),
        element("td", usage ? String(usage.jobsCreated) : "—"),
        element(
          "td",
          usage ? pagesAgainst(usage.budget.pagesUsed, usage.budget.pagesPerMonth) : "—",
        ),
        element("td", health),
      ];
      const last = element("td");
      last.append(open);
      row.append(...cells, last);
      return row;
    }),
  );
  budgetChart($("#overview-chart"), rows);
  await showAudit();
}

async function showTenantOfOperator(tenant: Tenant) {
  const section = $("#tenant");
  section.hidden = false;
  section.dataset.tenant = tenant.id;
  $("#tenant-title").textContent = `Tenant ${tenant.name}`;
  $("#keys-panel").hidden = false;
  $("#sub-form").hidden = true;
  const id = encodeURIComponent(tenant.id);
  const usage = await api<Usage>(`/admin/tenants/${id}/usage`);
  await showMetrics(`/admin/tenants/${id}/metrics?step=hour&from=${dayAgo()}`, [
    ["Jobs this month", String(usage.jobsCreated)],
    ["Pages / budget", pagesAgainst(usage.budget.pagesUsed, usage.budget.pagesPerMonth)],
  ]);
  await showKeys(tenant.id);
  await showAudit(tenant.id);
  $("#tenant-title").focus();
}

async function showKeys(tenantId: string) {
  const { items } = await api<{ items: ApiKey[] }>(
    `/admin/tenants/${encodeURIComponent(tenantId)}/keys`,
  );
  // Keys with a lifecycle (expiry, scopes, last use) only where the proxy has them.
  const lifecycle = items.some((key) => "scopes" in key || "expiresAt" in key);
  $("#keys-panel").classList.toggle("no-lifecycle", !lifecycle && items.length > 0);
  $("#keys tbody").replaceChildren(
    ...items.map((key) => {
      const row = element("tr", undefined, { "data-key": key.id });
      const state = key.revokedAt
        ? `revoked ${when(key.revokedAt)}`
        : key.expiresAt && Date.parse(key.expiresAt) <= Date.now()
          ? "expired"
          : `live${key.scopes ? ` · ${key.scopes.join(", ")}` : ""}`;
      row.append(
        element("th", key.name, { scope: "row" }),
        element("td", key.prefix),
        element("td", when(key.createdAt)),
        element("td", when(key.expiresAt), { class: "lifecycle" }),
        element("td", when(key.lastUsedAt), { class: "lifecycle" }),
        element("td", state),
      );
      const cell = element("td");
      if (!key.revokedAt) {
        const revoke = element("button", "Revoke", {
          type: "button",
          class: "danger",
          "aria-label": `Revoke key ${key.name}`,
        });
        revoke.addEventListener("click", () => void revokeKey(tenantId, key));
        cell.append(revoke);
      }
      row.append(cell);
      return row;
    }),
  );
}

async function revokeKey(tenantId: string, key: ApiKey) {
  if (!window.confirm(`Revoke key ${key.name} (${key.prefix})? Its callers get 401 from now on.`)) {
    return;
  }
  await api(`/admin/tenants/${encodeURIComponent(tenantId)}/keys/${encodeURIComponent(key.id)}`, {
    method: "DELETE",
  });
  say(`Key ${key.name} revoked.`);
  await showKeys(tenantId);
  await showAudit(tenantId);
}

async function createKey(event: SubmitEvent) {
  event.preventDefault();
  const tenantId = $("#tenant").dataset.tenant;
  const name = $<HTMLInputElement>("#new-key-name").value.trim();
  if (!tenantId || !name) return say("A key needs a name.", true);
  const expires = $<HTMLInputElement>("#new-key-expires").value;
  const scopes = [
    ...document.querySelectorAll<HTMLInputElement>("#new-key-scopes input:checked"),
  ].map((box) => box.value);
  const lifecycle = !$("#keys-panel").classList.contains("no-lifecycle");
  const created = await api<ApiKey & { key: string }>(
    `/admin/tenants/${encodeURIComponent(tenantId)}/keys`,
    {
      method: "POST",
      body: JSON.stringify({
        name,
        ...(lifecycle && expires ? { expiresAt: new Date(expires).toISOString() } : {}),
        ...(lifecycle && scopes.length < SCOPES.length ? { scopes } : {}),
      }),
    },
  );
  $<HTMLInputElement>("#new-key-name").value = "";
  $("#new-key-value").textContent = created.key;
  $("#new-key").hidden = false;
  say(`Key ${created.name} created.`);
  await showKeys(tenantId);
  await showAudit(tenantId);
}

async function showAudit(tenantId?: string) {
  const state = $("#audit-state");
  const query = tenantId ? `?tenantId=${encodeURIComponent(tenantId)}` : "";
  const audit = await optional<{ items: AuditItem[] }>(`/admin/audit${query}`);
  if (audit === "unavailable") {
    state.textContent = "The audit log is not available on this proxy yet.";
    $("#audit-log tbody").replaceChildren();
    return;
  }
  state.textContent = tenantId ? "Changes to this tenant, newest first." : "Newest first.";
  $("#audit-log tbody").replaceChildren(
    ...audit.items.slice(0, 100).map((item) => {
      const row = element("tr");
      row.append(
        element("td", when(item.at)),
        element("td", item.actor),
        element("td", item.action),
        element("td", item.target),
      );
      return row;
    }),
  );
}

// ---- tenant ----

async function showTenantSelf(sub?: string) {
  const section = $("#tenant");
  section.hidden = false;
  $("#keys-panel").hidden = true;
  $("#sub-form").hidden = false;
  const usage = await api<Usage & { tenantId: string }>("/usage");
  $("#tenant-title").textContent = sub ? `Your usage: end user ${sub}` : "Your usage";
  const query = `step=hour&from=${dayAgo()}${sub ? `&sub=${encodeURIComponent(sub)}` : ""}`;
  await showMetrics(`/usage/metrics?${query}`, [
    ["Jobs this month", String(usage.jobsCreated)],
    ["Completed", String(usage.jobsCompleted)],
    ["Failed", String(usage.jobsFailed)],
    ["Pages / budget", pagesAgainst(usage.budget.pagesUsed, usage.budget.pagesPerMonth)],
  ]);
}

// ---- session ----

function signOut(message = "Signed out.") {
  session = undefined;
  clearCharts();
  for (const id of ["#operator", "#tenant", "#audit", "#signout", "#new-key"]) $(id).hidden = true;
  for (const body of document.querySelectorAll("tbody")) body.replaceChildren();
  $("#summary").replaceChildren();
  $("#new-key-value").textContent = "";
  $("#who").textContent = "";
  $("#signin").hidden = false;
  say(message);
  $<HTMLInputElement>("#credential").focus();
}

async function signIn(event: SubmitEvent) {
  event.preventDefault();
  const input = $<HTMLInputElement>("#credential");
  const credential = input.value.trim();
  const role = (document.querySelector<HTMLInputElement>('input[name="role"]:checked')?.value ??
    "operator") as Role;
  // Out of the form at once: nothing keeps it but this module.
  input.value = "";
  if (!credential) return say("Paste the admin token or an API key.", true);
  session = { role, credential };
  say("Signing in…");
  try {
    if (role === "operator") await showOperator();
    else await showTenantSelf();
  } catch (err) {
    if (session) signOut(`Could not sign in: ${(err as Error).message}.`);
    notice.classList.add("error");
    return;
  }
  $("#signin").hidden = true;
  $("#signout").hidden = false;
  $("#who").textContent =
    role === "operator" ? "Signed in as the operator" : "Signed in as a tenant";
  say("");
  (role === "operator" ? $("#operator-title") : $("#tenant-title")).focus();
}

function run(task: () => Promise<unknown>) {
  task().catch((err: unknown) => {
    if (err instanceof ApiError && err.status === 401) return;
    say((err as Error).message, true);
  });
}

$("#new-key-scopes").append(
  ...SCOPES.map((scope) => {
    const label = element("label", undefined, { class: "choice" });
    label.append(
      element("input", undefined, { type: "checkbox", value: scope, checked: "" }),
      ` ${scope}`,
    );
    return label;
  }),
);
$<HTMLFormElement>("#signin").addEventListener("submit", (event) => run(() => signIn(event)));
$<HTMLFormElement>("#new-key-form").addEventListener("submit", (event) =>
  run(() => createKey(event)),
);
$<HTMLFormElement>("#sub-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const sub = $<HTMLInputElement>("#sub").value.trim();
  run(() => showTenantSelf(sub || undefined));
});
$("#new-key-done").addEventListener("click", () => {
  $("#new-key-value").textContent = "";
  $("#new-key").hidden = true;
});
$("#signout").addEventListener("click", () => signOut());
