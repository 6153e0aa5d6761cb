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
  expiresAt: string | null;
  lastUsedAt: string | null;
  scopes: string[];
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
  webhooks: { delivered: number; retrying: number; failed: number };
}
interface Metrics {
  series: MetricsPoint[];
  totals: Omit<MetricsPoint, "at">;
}
interface AuditItem {
  at: string;
  actor: string;
  action: string;
  target: Record<string, string>;
}

/** The scopes an API key may have (issue 23's contract). */
const SCOPES = ["jobs:read", "jobs:create", "tokens:mint", "usage:read", "webhooks:manage"];
/** How often an open traffic panel asks again: metrics flush every few seconds. */
const REFRESH_MS = 5_000;

const $ = <T extends HTMLElement>(selector: string) => document.querySelector(selector) as T;
const notice = $<HTMLParagraphElement>("#notice");

let session: { role: Role; credential: string } | undefined;
/** The traffic panel on screen: its chart, and how to read its metrics again. */
let traffic: { chart: uPlot | undefined; reload: () => Promise<void> } | undefined;
let refresher: ReturnType<typeof setInterval> | undefined;
const charts: uPlot[] = [];

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
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
    const body = (await response.json().catch(() => ({}))) as { error?: string; code?: string };
    throw new ApiError(response.status, body.error ?? `HTTP ${response.status}`, body.code);
  }
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/** What a failed request said, for a panel that shows it instead of its data. */
const failure = (err: unknown) =>
  err instanceof ApiError && err.code
    ? `${err.message} (${err.code}, HTTP ${err.status})`
    : (err as Error).message;

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
const hitRatio = (totals: Metrics["totals"]) =>
  totals.requests ? `${Math.round((totals.cacheHits / totals.requests) * 100)} %` : "—";
const webhookHealth = ({ webhooks }: Metrics["totals"]) =>
  `${webhooks.delivered} delivered · ${webhooks.retrying} retrying · ${webhooks.failed} failed`;
const hourAgo = () => new Date(Date.now() - 3600_000).toISOString();
const dayAgo = () => new Date(Date.now() - 24 * 3600_000).toISOString();
/** A `datetime-local` value (the browser's time zone) as an ISO instant. */
const instant = (local: string) => new Date(local).toISOString();

/** The overview's charts; the traffic panel's own is `traffic.chart`. */
function clearCharts() {
  for (const chart of charts.splice(0)) chart.destroy();
}

function chartWidth(container: HTMLElement): number {
  return Math.max(260, Math.min(container.clientWidth || 600, 1060));
}

function trafficData(series: MetricsPoint[]): uPlot.AlignedData {
  return [
    series.map((point) => Date.parse(point.at) / 1000),
    series.map((p) => p.requests),
    series.map((p) => p.cacheHits),
    series.map((p) => p.upstreamCalls),
    series.map((p) => p.upstreamCallsSaved),
  ];
}

/** Requests, cache hits, upstream calls made and saved, one point per minute. */
function trafficChart(container: HTMLElement, series: MetricsPoint[]): uPlot {
  container.replaceChildren();
  return new uPlot(
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
      axes: [{}, { label: "per minute" }],
    },
    trafficData(series),
    container,
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

/**
 * The traffic panel: the last hour per minute as a chart, with hit ratio, calls saved and webhook
 * health beside what `prefix` brings; asked again every few seconds while it is on screen, so the
 * chart moves as requests come in. A failed read says what failed, in the panel.
 */
async function showTraffic(path: () => string, prefix: [string, string][], endUser = false) {
  const state = $("#metrics-state");
  const container = $("#traffic-chart");
  stopTraffic();
  const panel: NonNullable<typeof traffic> = {
    chart: undefined,
    async reload() {
      let metrics: Metrics;
      try {
        metrics = await api<Metrics>(path());
      } catch (err) {
        if (traffic !== panel) return;
        state.textContent = `Traffic could not be read: ${failure(err)}.`;
        state.classList.add("error");
        if (!panel.chart) summary(prefix);
        return;
      }
      if (traffic !== panel) return;
      const { totals } = metrics;
      summary([
        ...prefix,
        ["Requests (1 h)", String(totals.requests)],
        ["Cache hit ratio", hitRatio(totals)],
        ["Upstream calls made", String(totals.upstreamCalls)],
        ["Upstream calls saved", String(totals.upstreamCallsSaved)],
        ["Errors", String(totals.errors)],
        // Kept per tenant, not per end user.
        ...(endUser ? [] : ([["Webhook deliveries", webhookHealth(totals)]] as [string, string][])),
      ]);
      state.textContent = `The last hour, per minute; updated ${new Date().toLocaleTimeString()}.`;
      state.classList.remove("error");
      container.setAttribute(
        "aria-label",
        `Traffic in the last hour, per minute: ${totals.requests} requests, ${totals.cacheHits} cache hits, ${totals.upstreamCalls} upstream calls made, ${totals.upstreamCallsSaved} saved`,
      );
      if (panel.chart) panel.chart.setData(trafficData(metrics.series));
      else panel.chart = trafficChart(container, metrics.series);
    },
  };
  traffic = panel;
  container.replaceChildren();
  await panel.reload();
  refresher = setInterval(() => {
    if (!document.hidden) void panel.reload();
  }, REFRESH_MS);
}

function stopTraffic() {
  if (refresher !== undefined) clearInterval(refresher);
  refresher = undefined;
  traffic?.chart?.destroy();
  traffic = undefined;
}

// ---- operator ----

/** Tenants a page at a time: sign-in reads one page, and usage and metrics only of its rows. */
const TENANT_PAGE = 50;
/** The overview's rows so far (for the budget chart), and where the next page starts. */
let operatorRows: { name: string; usage: Usage | string }[] = [];
let nextTenants: string | null = null;

async function showOperator() {
  $("#operator").hidden = false;
  $("#audit").hidden = false;
  operatorRows = [];
  $("#tenants tbody").replaceChildren();
  await showMoreTenants();
  await showAudit();
}

/** Appends the next page of tenants (the first without a cursor) to the table. */
async function showMoreTenants(cursor?: string) {
  const more = $<HTMLButtonElement>("#more-tenants");
  more.disabled = true;
  const after = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
  let page: { items: Tenant[]; nextCursor: string | null };
  try {
    page = await api(`/admin/tenants?limit=${TENANT_PAGE}${after}`);
  } finally {
    more.disabled = false;
  }
  const rows = await Promise.all(
    page.items.map(async (tenant) => {
      const id = encodeURIComponent(tenant.id);
      const [usage, metrics] = await Promise.all([
        api<Usage>(`/admin/tenants/${id}/usage`).catch((err: unknown) => failure(err)),
        api<Metrics>(`/admin/tenants/${id}/metrics?step=hour&from=${dayAgo()}`).catch(
          (err: unknown) => failure(err),
        ),
      ]);
      return { tenant, name: tenant.name, usage, metrics };
    }),
  );
  $("#tenants tbody").append(
    ...rows.map(({ tenant, usage, metrics }) => {
      const row = element("tr", undefined, { "data-tenant": tenant.id });
      const open = element("button", "Open", {
        type: "button",
        class: "secondary",
        "aria-label": `Open ${tenant.name}`,
      });
      open.addEventListener("click", () => run(() => showTenantOfOperator(tenant)));
      // A cell whose API failed says so, with what the proxy answered as its title.
      const cell = <T>(value: T | string, show: (value: T) => string, name = "") =>
        typeof value === "string"
          ? element("td", "unavailable", { title: value, class: `error ${name}` })
          : element("td", show(value), { class: name });
      const cells = [
        element("th", `${tenant.name}${tenant.disabled ? " (disabled)" : ""}`, { scope: "row" }),
        cell(metrics, (m) => String(m.totals.requests), "requests"),
        cell(metrics, (m) => hitRatio(m.totals), "hit-ratio"),
        cell(metrics, (m) => String(m.totals.upstreamCallsSaved), "saved"),
        cell(usage, (u) => pagesAgainst(u.budget.pagesUsed, u.budget.pagesPerMonth), "pages"),
        cell(metrics, (m) => webhookHealth(m.totals), "webhooks"),
      ];
      const last = element("td");
      last.append(open);
      row.append(...cells, last);
      return row;
    }),
  );
  operatorRows.push(...rows.map(({ name, usage }) => ({ name, usage })));
  nextTenants = page.nextCursor;
  more.hidden = nextTenants === null;
  clearCharts();
  budgetChart(
    $("#overview-chart"),
    operatorRows.map(({ name, usage }) => ({
      name,
      usage: typeof usage === "string" ? undefined : usage,
    })),
  );
}

async function showTenantOfOperator(tenant: Tenant) {
  const section = $("#tenant");
  section.hidden = false;
  section.dataset.tenant = tenant.id;
  $("#tenant-title").textContent = `Tenant ${tenant.name}`;
  $("#keys-panel").hidden = false;
  $("#sub-form").hidden = true;
  hideRotation();
  const id = encodeURIComponent(tenant.id);
  const usage = await api<Usage>(`/admin/tenants/${id}/usage`);
  await showTraffic(
    () => `/admin/tenants/${id}/metrics?step=minute&from=${hourAgo()}`,
    [
      ["Jobs this month", String(usage.jobsCreated)],
      ["Pages / budget", pagesAgainst(usage.budget.pagesUsed, usage.budget.pagesPerMonth)],
    ],
  );
  await showKeys(tenant.id);
  await showAudit(tenant.id);
  $("#tenant-title").focus();
}

async function showKeys(tenantId: string) {
  const { items } = await api<{ items: ApiKey[] }>(
    `/admin/tenants/${encodeURIComponent(tenantId)}/keys`,
  );
  $("#keys tbody").replaceChildren(
    ...items.map((key) => {
      const row = element("tr", undefined, { "data-key": key.id });
      const state = key.revokedAt
        ? "revoked"
        : key.expiresAt && Date.parse(key.expiresAt) <= Date.now()
          ? "expired"
          : "live";
      const scopes = key.scopes.length === SCOPES.length ? "all" : key.scopes.join(", ");
      const name = element("th", key.name, { scope: "row" });
      name.append(element("span", key.prefix, { class: "prefix" }));
      row.append(
        name,
        element("td", when(key.createdAt)),
        element("td", key.expiresAt ? when(key.expiresAt) : "never", { class: "expires" }),
        element("td", scopes || "none", { class: "scopes" }),
        element("td", key.lastUsedAt ? when(key.lastUsedAt) : "never", { class: "last-used" }),
        element("td", state, {
          class: "state",
          ...(key.revokedAt ? { title: `revoked ${when(key.revokedAt)} UTC` } : {}),
        }),
      );
      const cell = element("td", undefined, { class: "actions" });
      if (state === "live") {
        const rotate = element("button", "Rotate", {
          type: "button",
          class: "secondary",
          "aria-label": `Rotate key ${key.name}`,
        });
        rotate.addEventListener("click", () => askRotation(key));
        const revoke = element("button", "Revoke", {
          type: "button",
          class: "danger",
          "aria-label": `Revoke key ${key.name}`,
        });
        revoke.addEventListener("click", () => run(() => revokeKey(tenantId, key)));
        cell.append(rotate, revoke);
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

/** A key shown this once (creation or rotation): the proxy keeps only its hash. */
function showNewKey(key: string, about: string) {
  $("#new-key-about").textContent = about;
  $("#new-key-value").textContent = key;
  $("#new-key").hidden = false;
  $("#new-key-done").focus();
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
  if (scopes.length === 0) return say("A key needs at least one scope.", true);
  const created = await api<ApiKey & { key: string }>(
    `/admin/tenants/${encodeURIComponent(tenantId)}/keys`,
    {
      method: "POST",
      body: JSON.stringify({
        name,
        ...(expires ? { expiresAt: instant(expires) } : {}),
        ...(scopes.length < SCOPES.length ? { scopes } : {}),
      }),
    },
  );
  $<HTMLInputElement>("#new-key-name").value = "";
  $<HTMLInputElement>("#new-key-expires").value = "";
  for (const box of document.querySelectorAll<HTMLInputElement>("#new-key-scopes input")) {
    box.checked = true;
  }
  showNewKey(created.key, `The new key ${created.name}, shown this once`);
  say(`Key ${created.name} created.`);
  await showKeys(tenantId);
  await showAudit(tenantId);
}

/** The rotation form for one key: when its old self stops working (default: in 24 hours). */
function askRotation(key: ApiKey) {
  const form = $<HTMLFormElement>("#rotate-form");
  form.dataset.key = key.id;
  form.dataset.name = key.name;
  $("#rotate-title").textContent = `Rotate key ${key.name} (${key.prefix})`;
  // `datetime-local` wants the browser's local time, without a zone.
  const inDay = new Date(Date.now() + 24 * 3600_000 - new Date().getTimezoneOffset() * 60_000);
  $<HTMLInputElement>("#rotate-ends").value = inDay.toISOString().slice(0, 16);
  form.hidden = false;
  $<HTMLInputElement>("#rotate-ends").focus();
}

function hideRotation() {
  const form = $<HTMLFormElement>("#rotate-form");
  form.hidden = true;
  delete form.dataset.key;
}

async function rotateKey(event: SubmitEvent) {
  event.preventDefault();
  const tenantId = $("#tenant").dataset.tenant;
  const { key: keyId, name } = $<HTMLFormElement>("#rotate-form").dataset;
  const ends = $<HTMLInputElement>("#rotate-ends").value;
  if (!tenantId || !keyId) return;
  if (!ends) return say("Say when the old key stops working.", true);
  const rotated = await api<ApiKey & { key: string; oldKey: ApiKey }>(
    `/admin/tenants/${encodeURIComponent(tenantId)}/keys/${encodeURIComponent(keyId)}/rotate`,
    { method: "POST", body: JSON.stringify({ oldKeyExpiresAt: instant(ends) }) },
  );
  hideRotation();
  showNewKey(
    rotated.key,
    `The new key for ${name}, shown this once; the old key works until ${when(rotated.oldKey.expiresAt)} UTC`,
  );
  say(`Key ${name} rotated.`);
  await showKeys(tenantId);
  await showAudit(tenantId);
}

/** `{ tenantId, keyId }` as "tenant tnt_…, key key_…". */
const target = (ids: Record<string, string>) =>
  Object.entries(ids)
    .map(([name, id]) => `${name.replace(/Id$/, "")} ${id}`)
    .join(", ");

async function showAudit(tenantId?: string) {
  const state = $("#audit-state");
  const query = tenantId ? `?tenantId=${encodeURIComponent(tenantId)}` : "";
  let audit: { items: AuditItem[] };
  try {
    audit = await api<{ items: AuditItem[] }>(`/admin/audit${query}`);
  } catch (err) {
    state.textContent = `The audit log could not be read: ${failure(err)}.`;
    state.classList.add("error");
    $("#audit-log tbody").replaceChildren();
    return;
  }
  state.classList.remove("error");
  state.textContent = tenantId ? "Changes to this tenant, newest first." : "Newest first.";
  $("#audit-log tbody").replaceChildren(
    ...audit.items.slice(0, 100).map((item) => {
      const row = element("tr");
      row.append(
        element("td", when(item.at)),
        element("td", item.actor),
        element("td", item.action),
        element("td", target(item.target)),
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
  $("#all-users").hidden = !sub;
  const usage = await api<Usage & { tenantId: string }>("/usage");
  $("#tenant-title").textContent = sub ? `Your usage: end user ${sub}` : "Your usage";
  const query = sub ? `&sub=${encodeURIComponent(sub)}` : "";
  await showTraffic(
    () => `/usage/metrics?step=minute&from=${hourAgo()}${query}`,
    sub
      ? [
          [
            "Pages / budget (all users)",
            pagesAgainst(usage.budget.pagesUsed, usage.budget.pagesPerMonth),
          ],
        ]
      : [
          ["Jobs this month", String(usage.jobsCreated)],
          ["Completed", String(usage.jobsCompleted)],
          ["Failed", String(usage.jobsFailed)],
          ["Pages / budget", pagesAgainst(usage.budget.pagesUsed, usage.budget.pagesPerMonth)],
        ],
    sub !== undefined,
  );
}

// ---- session ----

function signOut(message = "Signed out.") {
  session = undefined;
  stopTraffic();
  clearCharts();
  for (const id of ["#operator", "#tenant", "#audit", "#signout", "#new-key", "#rotate-form"]) {
    $(id).hidden = true;
  }
  for (const body of document.querySelectorAll("tbody")) body.replaceChildren();
  $("#summary").replaceChildren();
  $("#new-key-value").textContent = "";
  $("#metrics-state").textContent = "";
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
    if (session) signOut(`Could not sign in: ${failure(err)}.`);
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
    say(failure(err), true);
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
$<HTMLFormElement>("#rotate-form").addEventListener("submit", (event) =>
  run(() => rotateKey(event)),
);
$("#rotate-cancel").addEventListener("click", hideRotation);
$<HTMLFormElement>("#sub-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const sub = $<HTMLInputElement>("#sub").value.trim();
  run(() => showTenantSelf(sub || undefined));
});
$("#all-users").addEventListener("click", () => {
  $<HTMLInputElement>("#sub").value = "";
  run(() => showTenantSelf());
});
$("#new-key-done").addEventListener("click", () => {
  $("#new-key-value").textContent = "";
  $("#new-key").hidden = true;
});
$("#signout").addEventListener("click", () => signOut());
$("#more-tenants").addEventListener("click", () => {
  if (nextTenants) run(() => showMoreTenants(nextTenants ?? undefined));
});
// Charts are drawn at a width in pixels: a turned phone or a narrower window redraws them.
let resizing: ReturnType<typeof setTimeout> | undefined;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    for (const chart of [...charts, ...(traffic?.chart ? [traffic.chart] : [])]) {
      const container = chart.root.parentElement;
      if (container) chart.setSize({ width: chartWidth(container), height: 220 });
    }
  }, 100);
});
