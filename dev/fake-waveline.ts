/**
 * Local fake of the Waveline Extract API, for `npm run dev`, integration and end-to-end tests and
 * benchmarks. Node built-ins only. Run directly:
 *   tsx dev/fake-waveline.ts --port 8788 --key dev-waveline-key [--latency 50] [--step 1500]
 *                            [--host 127.0.0.1] [--quiet]
 * Env fallbacks: FAKE_WAVELINE_PORT, FAKE_WAVELINE_KEY, FAKE_WAVELINE_LATENCY_MS, FAKE_WAVELINE_STEP_MS.
 *
 * Upstream contract (base /api/v1, `Authorization: Bearer <key>` on every route): GET /jobs/:id,
 * GET /jobs?count&offset, GET /me, POST /extract-document, /guess-shape, /raw-extract.
 * Jobs go CREATED -> RUNNING -> COMPLETED | FAILED, computed lazily from their age (RUNNING after
 * stepMs, terminal after 2 * stepMs); a fileName containing "fail" (any case) ends FAILED.
 * GET /jobs/virtual-<anything> answers a RUNNING job without seeding it.
 *
 * Control API (no auth; tests in other processes scope everything by a unique `match` substring):
 *   POST   /__control/faults        {match, mode, status?, body?, headers?, delayMs?, times?, bytes?,
 *                                    bodyIncludes?} -> 201 {id}
 *     modes: status (status, body, headers), delay, hang, drop, truncate, malformed, offschema,
 *     huge (a result of `bytes`), endless (a 200 job body that never ends, no Content-Length),
 *     other-id (the asked job under the id in `body`, else a random one), unknown-status (the
 *     asked job with the status in `body`, else "QUEUED")
 *   GET    /__control/faults        -> {faults}
 *   DELETE /__control/faults[/:id]  -> 204
 *   POST   /__control/jobs          {id?, status, type?, fileName?, pages?, result?, resultBytes?}
 *                                   -> 201 job, static until patched
 *   PATCH  /__control/jobs/:id      {status?, result?, resultBytes?, pages?} -> 200 job | 404
 *   POST   /__control/job-ids       {fileName, id} -> 201: the next job created with that fileName gets
 *                                   that id (any string: ids the contract allows but no UUID is)
 *   GET    /__control/calls?match=[&bodyIncludes=]
 *                                   -> {total, calls: [{method, path, search, at, headers, body}]}
 *   POST   /__control/reset         -> 204: faults, calls and created jobs cleared, seeds restored
 *   GET    /__control/health        -> {ok: true}
 * `match` is a substring of the request target (path plus query string), raw or percent-decoded;
 * `bodyIncludes`, a substring of the request body (a unique fileName keeps creations apart).
 * A recorded call keeps the first CALL_BODY_CAP (2 KiB) of its body.
 * Only the last CALL_HISTORY_CAP (10,000) /api/v1 calls are kept: `total` counts matches among them.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { realpathSync } from "node:fs";
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

export interface FakeWavelineOptions {
  /** 0 = a random free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  apiKey: string;
  /** Added to every /api/v1 answer, default 0. */
  latencyMs?: number;
  /** Time a job spends in CREATED, then in RUNNING; default 1500. */
  stepMs?: number;
  /** Silences the per-request access log. */
  quiet?: boolean;
}

export interface FakeWaveline {
  /** http://127.0.0.1:PORT */
  origin: string;
  /** origin + "/api/v1" */
  baseUrl: string;
  port: number;
  close(): Promise<void>;
}

export type JobStatus = "CREATED" | "RUNNING" | "FAILED" | "COMPLETED";
export type ScalarType = "string" | "number" | "boolean";
export type ShapeElement =
  | { name: string; type: ScalarType; description?: string; isArray?: boolean }
  | { name: string; type: "object"; description?: string; isArray?: boolean; elements: Shape };
export type Shape = ShapeElement[];

export interface Job {
  id: string;
  createdAt: string;
  status: JobStatus;
  type: string;
  pages: number;
  fileName: string;
  result: unknown;
  urls: { get: string };
}

export type FaultMode =
  | "status"
  | "delay"
  | "hang"
  | "drop"
  | "truncate"
  | "malformed"
  | "offschema"
  | "huge"
  | "endless"
  | "other-id"
  | "unknown-status";

export const SEEDED_JOB_IDS = {
  completed: "00000000-0000-4000-8000-000000000001",
  running: "00000000-0000-4000-8000-000000000002",
  failed: "00000000-0000-4000-8000-000000000003",
  created: "00000000-0000-4000-8000-000000000004",
} as const;

export const CALL_HISTORY_CAP = 10_000;
const CALL_BODY_CAP = 2048;

const API_PREFIX = "/api/v1";
const CONTROL_PREFIX = "/__control";
const JOB_STATUSES: readonly JobStatus[] = ["CREATED", "RUNNING", "FAILED", "COMPLETED"];
const SCALAR_TYPES: readonly ScalarType[] = ["string", "number", "boolean"];
const FAULT_MODES: readonly FaultMode[] = [
  "status",
  "delay",
  "hang",
  "drop",
  "truncate",
  "malformed",
  "offschema",
  "huge",
  "endless",
  "other-id",
  "unknown-status",
];
const CREATE_ROUTES: ReadonlyMap<string, string> = new Map([
  ["/extract-document", "extract-document"],
  ["/guess-shape", "guess-shape"],
  ["/raw-extract", "raw-extract"],
]);
const ACCOUNT = { id: "acct_fake", email: "dev@example.com" };
const NOT_FOUND = { error: "Not found" };
const WORDS_PER_PAGE = 500;
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const MAX_SHAPE_DEPTH = 8;
const MAX_GENERATED_BYTES = 512 * 1024 * 1024;
const DEFAULT_HUGE_BYTES = 5 * 1024 * 1024;
const DEFAULT_FAULT_DELAY_MS = 1000;
const MAX_FAULT_DELAY_MS = 10 * 60 * 1000;
const DEFAULT_LIST_COUNT = 10;
const MAX_LIST_COUNT = 100;
const DEFAULT_STEP_MS = 1500;
const MALFORMED_JSON = '{"id": "x", not json';
const OFF_SCHEMA_JOB = { id: 12, status: "WEIRD" };
const FILLER_UNIT = "lorem ipsum dolor sit amet ";
const EMPTY_TEXT_RESULT_BYTES = JSON.stringify({ text: "" }).length;
const VIRTUAL_JOB_PREFIX = "virtual-";
const DEFAULT_CLI_PORT = 8788;

const GUESSED_SHAPE: Shape = [
  { name: "title", type: "string", description: "Title of the document" },
  { name: "date", type: "string", description: "Date the document was issued (ISO 8601)" },
  { name: "author", type: "string", description: "Person or organisation that wrote it" },
  { name: "pageCount", type: "number", description: "Number of pages" },
  {
    name: "sections",
    type: "object",
    description: "Sections of the document",
    isArray: true,
    elements: [
      { name: "heading", type: "string", description: "Section heading" },
      { name: "summary", type: "string", description: "One-sentence summary of the section" },
    ],
  },
];

export interface SeedJob {
  id: string;
  createdAt: string;
  status: JobStatus;
  type: string;
  fileName: string;
  pages: number;
  result: unknown;
}

export const SEED_JOBS: readonly SeedJob[] = [
  {
    id: SEEDED_JOB_IDS.completed,
    createdAt: "2025-01-15T09:00:00.000Z",
    status: "COMPLETED",
    type: "extract-document",
    fileName: "invoice-0001.pdf",
    pages: 2,
    result: {
      invoiceNumber: "INV-0001",
      total: 1250.5,
      currency: "EUR",
      lineItems: [{ description: "Consulting", amount: 1250.5 }],
    },
  },
  {
    id: SEEDED_JOB_IDS.running,
    createdAt: "2025-01-15T09:01:00.000Z",
    status: "RUNNING",
    type: "extract-document",
    fileName: "contract.pdf",
    pages: 0,
    result: null,
  },
  {
    id: SEEDED_JOB_IDS.failed,
    createdAt: "2025-01-15T09:02:00.000Z",
    status: "FAILED",
    type: "guess-shape",
    fileName: "scan-fail.png",
    pages: 1,
    result: null,
  },
  {
    id: SEEDED_JOB_IDS.created,
    createdAt: "2025-01-15T09:03:00.000Z",
    status: "CREATED",
    type: "extract-document",
    fileName: "receipt.jpg",
    pages: 0,
    result: null,
  },
];

interface JobSource {
  shape: Shape | undefined;
  text: string | undefined;
}

interface JobRecord {
  id: string;
  createdAt: string;
  createdAtMs: number;
  /** Monotonic clock, so a wall-clock jump never moves a terminal job back. */
  createdTick: number;
  seq: number;
  type: string;
  fileName: string;
  pages: number;
  source: JobSource;
  /** Set for seeded and control jobs: they keep this status until patched. */
  pinned: { status: JobStatus; result: unknown } | undefined;
}

interface Fault {
  id: string;
  match: string;
  bodyIncludes: string | undefined;
  mode: FaultMode;
  status: number;
  body: unknown;
  headers: Record<string, string>;
  delayMs: number;
  /** Matching requests left; Infinity until reset or removed. */
  remaining: number;
  bytes: number;
}

interface RecordedCall {
  method: string;
  path: string;
  search: string;
  at: number;
  headers: Record<string, string>;
  body: string;
}

interface FakeState {
  readonly apiKeyDigest: Buffer;
  readonly latencyMs: number;
  readonly stepMs: number;
  readonly quiet: boolean;
  readonly startedAt: string;
  origin: string;
  jobs: Map<string, JobRecord>;
  nextSeq: number;
  faults: Fault[];
  calls: RecordedCall[];
  /** fileName -> the id the next job created with it gets (POST /__control/job-ids). */
  idsByFileName: Map<string, string>;
  readonly inFlight: Set<AbortController>;
}

interface Exchange {
  readonly req: IncomingMessage;
  readonly method: string;
  /** Raw request target: path plus query string, as received. */
  readonly target: string;
  readonly path: string;
  readonly query: URLSearchParams;
  /** undefined when the body is over MAX_BODY_BYTES. */
  readonly body: Buffer | undefined;
  readonly signal: AbortSignal;
}

/** What to do with a request; written out by writeReply alone. */
type Reply =
  | { kind: "body"; status: number; text: string; headers: Record<string, string> }
  | { kind: "empty"; status: number; headers: Record<string, string> }
  | { kind: "hang" }
  | { kind: "drop" }
  | { kind: "truncate"; text: string }
  | { kind: "endless"; prefix: string };

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
type Failure = { ok: false; error: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (error: string): Failure => ({ ok: false, error });

function json(status: number, body: unknown, headers: Record<string, string> = {}): Reply {
  return {
    kind: "body",
    status,
    text: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  };
}

function jsonError(status: number, error: string): Reply {
  return json(status, { error });
}

const noContent = (): Reply => ({ kind: "empty", status: 204, headers: {} });
const notFound = (): Reply => json(404, NOT_FOUND);

export async function startFakeWaveline(options: FakeWavelineOptions): Promise<FakeWaveline> {
  const state = createState(options);
  const host = options.host ?? "127.0.0.1";
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => void serveExchange(state, req, res));
  // Idle connections outlive the callers' pools (workerd drops its own after 5 s), as behind a
  // production load balancer: at Node's default of 5 s both ends close at once, and a request sent
  // on the closing connection is reset, which the proxy rightly never retries for a POST.
  server.keepAliveTimeout = 65_000;
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await listen(server, options.port ?? 0, host);
  const { port } = server.address() as AddressInfo;
  state.origin = `http://${hostForUrl(host)}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    origin: state.origin,
    baseUrl: state.origin + API_PREFIX,
    port,
    close: () => {
      closing ??= closeServer(server, sockets, state);
      return closing;
    },
  };
}

function createState(options: FakeWavelineOptions): FakeState {
  if (typeof options.apiKey !== "string" || options.apiKey === "") {
    throw new Error("apiKey is required");
  }
  return {
    apiKeyDigest: digest(options.apiKey),
    latencyMs: nonNegative(options.latencyMs ?? 0, "latencyMs"),
    stepMs: nonNegative(options.stepMs ?? DEFAULT_STEP_MS, "stepMs"),
    quiet: options.quiet ?? false,
    startedAt: new Date().toISOString(),
    origin: "",
    jobs: seedJobs(0),
    nextSeq: SEED_JOBS.length,
    faults: [],
    calls: [],
    idsByFileName: new Map(),
    inFlight: new Set(),
  };
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0)
    throw new Error(`${name} must be a non-negative number`);
  return value;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

function hostForUrl(host: string): string {
  if (host === "0.0.0.0") return "127.0.0.1";
  if (host === "::") return "[::1]";
  return host.includes(":") ? `[${host}]` : host;
}

function closeServer(server: Server, sockets: Set<Socket>, state: FakeState): Promise<void> {
  for (const controller of state.inFlight) controller.abort();
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  // Hanging and keep-alive sockets would otherwise hold close() open forever.
  for (const socket of sockets) socket.destroy();
  return closed;
}

function seedJobs(firstSeq: number): Map<string, JobRecord> {
  const jobs = new Map<string, JobRecord>();
  SEED_JOBS.forEach((seed, index) => {
    jobs.set(seed.id, {
      id: seed.id,
      createdAt: seed.createdAt,
      createdAtMs: Date.parse(seed.createdAt),
      createdTick: 0,
      seq: firstSeq + index,
      type: seed.type,
      fileName: seed.fileName,
      pages: seed.pages,
      source: { shape: undefined, text: undefined },
      pinned: { status: seed.status, result: structuredClone(seed.result) },
    });
  });
  return jobs;
}

// ------------------------------------------------------------------------------------------------
// Requests

async function serveExchange(
  state: FakeState,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const controller = new AbortController();
  state.inFlight.add(controller);
  res.once("close", () => {
    controller.abort();
    state.inFlight.delete(controller);
    logExchange(state, req, res, started);
  });
  try {
    writeReply(req, res, await replyTo(state, req, controller.signal));
  } catch (error) {
    if (controller.signal.aborted) return;
    if (!state.quiet) console.error(`fake Waveline internal error: ${describeError(error)}`);
    if (res.headersSent) res.destroy();
    else writeReply(req, res, jsonError(500, "Internal error"));
  }
}

function logExchange(
  state: FakeState,
  req: IncomingMessage,
  res: ServerResponse,
  started: number,
): void {
  if (state.quiet) return;
  const status = res.headersSent ? String(res.statusCode) : "---";
  const outcome = res.writableFinished ? "" : " (connection closed)";
  const ms = Math.round(performance.now() - started);
  process.stdout.write(`[fake-waveline] ${req.method} ${req.url} ${status} ${ms}ms${outcome}\n`);
}

async function replyTo(
  state: FakeState,
  req: IncomingMessage,
  signal: AbortSignal,
): Promise<Reply> {
  const target = req.url ?? "/";
  const queryStart = target.indexOf("?");
  const path = queryStart === -1 ? target : target.slice(0, queryStart);
  const search = queryStart === -1 ? "" : target.slice(queryStart);
  const isApi = path === API_PREFIX || path.startsWith(`${API_PREFIX}/`);
  const exchange: Exchange = {
    req,
    method: req.method ?? "GET",
    target,
    path,
    query: new URLSearchParams(search),
    body: await readBody(req),
    signal,
  };
  if (isApi) recordCall(state, req, path, search, exchange.body);
  if (isApi) return serveApi(state, exchange);
  if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`)) {
    return serveControl(state, exchange);
  }
  return notFound();
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const bytes = chunk as Buffer;
    size += bytes.length;
    if (size <= MAX_BODY_BYTES) chunks.push(bytes);
  }
  return size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks);
}

function recordCall(
  state: FakeState,
  req: IncomingMessage,
  path: string,
  search: string,
  body: Buffer | undefined,
): void {
  const headers = flattenHeaders(req);
  const text = body ? body.subarray(0, CALL_BODY_CAP).toString("utf8") : "";
  state.calls.push({
    method: req.method ?? "GET",
    path,
    search,
    at: Date.now(),
    headers,
    body: text,
  });
  if (state.calls.length > CALL_HISTORY_CAP) {
    state.calls.splice(0, state.calls.length - CALL_HISTORY_CAP);
  }
}

function flattenHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

function writeReply(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  switch (reply.kind) {
    case "body": {
      const body = Buffer.from(reply.text);
      res.writeHead(reply.status, { "content-length": body.length, ...reply.headers });
      res.end(body);
      return;
    }
    case "empty":
      res.writeHead(reply.status, reply.headers);
      res.end();
      return;
    case "hang":
      return;
    case "drop":
      req.socket.destroy();
      return;
    case "truncate":
      writeTruncated(res, reply.text);
      return;
    case "endless":
      writeEndless(res, reply.prefix);
      return;
    default:
      assertNever(reply);
  }
}

function writeTruncated(res: ServerResponse, text: string): void {
  const full = Buffer.from(text);
  res.writeHead(200, { "content-type": "application/json", "content-length": full.length });
  const socket = res.socket;
  // end() before destroy() so the half already written reaches the client before the connection dies.
  res.write(full.subarray(0, Math.floor(full.length / 2)), () => {
    socket?.end(() => socket.destroy());
  });
}

/** Chunked filler after `prefix` until the client hangs up: only a reader with a cap stops. */
function writeEndless(res: ServerResponse, prefix: string): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.write(prefix);
  const chunk = Buffer.from(filler(64 * 1024));
  const more = () => {
    let room = true;
    while (!res.destroyed && room) room = res.write(chunk);
    if (!res.destroyed) res.once("drain", more);
  };
  res.on("close", () => res.off("drain", more));
  more();
}

function assertNever(value: never): never {
  throw new Error(`Unhandled case ${JSON.stringify(value)}`);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function decodeSegment(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

function parseJsonObject(body: Buffer, emptyIsObject: boolean): Parsed<Record<string, unknown>> {
  if (body.length === 0 && emptyIsObject) return ok({});
  let value: unknown;
  try {
    value = JSON.parse(body.toString("utf8"));
  } catch {
    return fail("Body must be valid JSON");
  }
  return isRecord(value) ? ok(value) : fail("Body must be a JSON object");
}

// ------------------------------------------------------------------------------------------------
// Upstream API

async function serveApi(state: FakeState, exchange: Exchange): Promise<Reply> {
  if (state.latencyMs > 0) await sleep(state.latencyMs, undefined, { signal: exchange.signal });
  if (!hasApiKey(state, exchange.req.headers.authorization)) {
    return json(401, { error: "Missing or invalid API key" }, { "www-authenticate": "Bearer" });
  }
  const fault = takeFault(state, exchange);
  return fault ? applyFault(state, exchange, fault) : answerApi(state, exchange, false);
}

function hasApiKey(state: FakeState, authorization: string | undefined): boolean {
  const token = /^Bearer\s+(.+)$/i.exec(authorization ?? "")?.[1];
  return token !== undefined && timingSafeEqual(digest(token), state.apiKeyDigest);
}

function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}

function answerApi(state: FakeState, exchange: Exchange, unknownJobsAreVirtual: boolean): Reply {
  const { method } = exchange;
  const route = exchange.path.slice(API_PREFIX.length);
  if (method === "GET" && route === "/me") return json(200, ACCOUNT);
  if (method === "GET" && route === "/jobs") return answerJobList(state, exchange.query);
  if (method === "GET" && route.startsWith("/jobs/")) {
    return answerJob(state, route.slice("/jobs/".length), unknownJobsAreVirtual);
  }
  const createdType = CREATE_ROUTES.get(route);
  if (method === "POST" && createdType !== undefined) {
    return answerCreateJob(state, exchange, createdType);
  }
  return notFound();
}

function answerJob(state: FakeState, rawId: string, unknownJobsAreVirtual: boolean): Reply {
  if (rawId === "") return jsonError(400, "Job id is required");
  if (rawId.includes("/")) return notFound();
  const id = decodeSegment(rawId);
  if (id === undefined) return jsonError(400, "Job id is not valid percent-encoding");
  const job = state.jobs.get(id);
  if (job) return json(200, viewJob(state, job, performance.now()));
  if (id.startsWith(VIRTUAL_JOB_PREFIX) || unknownJobsAreVirtual) {
    return json(200, virtualJob(state, id));
  }
  return jsonError(404, `Job ${id} not found`);
}

function answerJobList(state: FakeState, query: URLSearchParams): Reply {
  const page = parsePage(query);
  if (!page.ok) return jsonError(400, page.error);
  const { count, offset } = page.value;
  const now = performance.now();
  const newestFirst = [...state.jobs.values()].sort(
    (a, b) => b.createdAtMs - a.createdAtMs || b.seq - a.seq,
  );
  const items = newestFirst
    .slice(offset, offset + count)
    .map((job) => withoutResult(viewJob(state, job, now)));
  return json(200, { items, offset, count, total: newestFirst.length });
}

function parsePage(query: URLSearchParams): Parsed<{ count: number; offset: number }> {
  const count = parseBoundedInteger(query.get("count"), DEFAULT_LIST_COUNT, 1, MAX_LIST_COUNT);
  if (count === undefined) return fail(`count must be an integer between 1 and ${MAX_LIST_COUNT}`);
  const offset = parseBoundedInteger(query.get("offset"), 0, 0, Number.MAX_SAFE_INTEGER);
  if (offset === undefined) return fail("offset must be a non-negative integer");
  return ok({ count, offset });
}

function parseBoundedInteger(
  raw: string | null,
  fallback: number,
  min: number,
  max: number,
): number | undefined {
  if (raw === null) return fallback;
  if (!/^-?\d+$/.test(raw)) return undefined;
  const value = Number(raw);
  return value >= min && value <= max ? value : undefined;
}

function withoutResult(job: Job): Omit<Job, "result"> {
  const { result: _result, ...summary } = job;
  return summary;
}

function answerCreateJob(state: FakeState, exchange: Exchange, type: string): Reply {
  if (exchange.body === undefined) return jsonError(413, "Request body is too large");
  if (!isJsonContentType(exchange.req.headers["content-type"])) {
    return jsonError(400, "Content-Type must be application/json");
  }
  const request = parseJobRequest(exchange.body, type);
  if (!request.ok) return jsonError(400, request.error);
  const now = Date.now();
  const chosenId = state.idsByFileName.get(request.value.fileName);
  state.idsByFileName.delete(request.value.fileName);
  const job: JobRecord = {
    id: chosenId ?? randomUUID(),
    createdAt: new Date(now).toISOString(),
    createdAtMs: now,
    createdTick: performance.now(),
    seq: state.nextSeq++,
    type,
    fileName: request.value.fileName,
    pages: pagesFor(request.value.words),
    source: { shape: request.value.shape, text: request.value.text },
    pinned: undefined,
  };
  state.jobs.set(job.id, job);
  return json(201, viewJob(state, job, job.createdTick));
}

function isJsonContentType(header: string | undefined): boolean {
  return header?.split(";")[0]?.trim().toLowerCase() === "application/json";
}

interface JobRequest {
  fileName: string;
  shape: Shape | undefined;
  text: string | undefined;
  words: number;
}

function parseJobRequest(body: Buffer, type: string): Parsed<JobRequest> {
  const input = parseJsonObject(body, false);
  if (!input.ok) return input;
  const { fileName, contentType, shape } = input.value;
  if (typeof fileName !== "string" || fileName === "") {
    return fail("fileName is required and must be a string");
  }
  if (typeof contentType !== "string" || contentType === "") {
    return fail("contentType is required and must be a string");
  }
  let parsedShape: Shape | undefined;
  if (type === "extract-document" && shape !== undefined) {
    const result = parseShape(shape, "shape", 0);
    if (!result.ok) return result;
    parsedShape = result.value;
  }
  const document = parseDocument(input.value);
  if (!document.ok) return document;
  return ok({ fileName, shape: parsedShape, ...document.value });
}

/** The document rides in `content` or `text` (plain text) or `data` (base64). */
function parseDocument(
  body: Record<string, unknown>,
): Parsed<{ text: string | undefined; words: number }> {
  for (const field of ["content", "text"]) {
    const value = body[field];
    if (value === undefined) continue;
    if (typeof value !== "string") return fail(`${field} must be a string`);
    return ok({ text: value, words: countWords(value) });
  }
  const { data } = body;
  if (data === undefined) return ok({ text: undefined, words: 0 });
  if (typeof data !== "string" || !/^[A-Za-z0-9+/_\-=\s]*$/.test(data)) {
    return fail("data must be a base64 string");
  }
  return ok({ text: undefined, words: countWords(Buffer.from(data, "base64").toString("utf8")) });
}

function countWords(text: string): number {
  return text.split(/\s+/).filter((word) => word !== "").length;
}

function pagesFor(words: number): number {
  return Math.max(1, Math.ceil(words / WORDS_PER_PAGE));
}

function parseShape(value: unknown, path: string, depth: number): Parsed<Shape> {
  if (!Array.isArray(value)) return fail(`${path} must be an array`);
  if (depth > MAX_SHAPE_DEPTH) return fail(`${path} is nested too deeply`);
  const shape: Shape = [];
  for (const [index, item] of value.entries()) {
    const element = parseShapeElement(item, `${path}[${index}]`, depth);
    if (!element.ok) return element;
    shape.push(element.value);
  }
  return ok(shape);
}

function parseShapeElement(item: unknown, path: string, depth: number): Parsed<ShapeElement> {
  if (!isRecord(item)) return fail(`${path} must be an object`);
  const { name, type, description, isArray } = item;
  if (typeof name !== "string" || name === "")
    return fail(`${path}.name must be a non-empty string`);
  if (description !== undefined && typeof description !== "string") {
    return fail(`${path}.description must be a string`);
  }
  if (isArray !== undefined && typeof isArray !== "boolean") {
    return fail(`${path}.isArray must be a boolean`);
  }
  const common = {
    name,
    ...(description === undefined ? {} : { description }),
    ...(isArray === undefined ? {} : { isArray }),
  };
  if (type === "object") {
    const elements = parseShape(item.elements, `${path}.elements`, depth + 1);
    return elements.ok ? ok({ ...common, type, elements: elements.value }) : elements;
  }
  if (isScalarType(type)) return ok({ ...common, type });
  return fail(`${path}.type must be one of string, number, boolean, object`);
}

function isScalarType(value: unknown): value is ScalarType {
  return SCALAR_TYPES.includes(value as ScalarType);
}

// ------------------------------------------------------------------------------------------------
// Jobs

function viewJob(state: FakeState, job: JobRecord, now: number): Job {
  const status = job.pinned?.status ?? statusAt(job, now, state.stepMs);
  const completed = status === "COMPLETED" ? completedResult(job) : null;
  return {
    id: job.id,
    createdAt: job.createdAt,
    status,
    type: job.type,
    pages: job.pages,
    fileName: job.fileName,
    result: job.pinned ? job.pinned.result : completed,
    urls: { get: jobUrl(state, job.id) },
  };
}

function statusAt(job: JobRecord, now: number, stepMs: number): JobStatus {
  const age = now - job.createdTick;
  if (age < stepMs) return "CREATED";
  if (age < 2 * stepMs) return "RUNNING";
  return /fail/i.test(job.fileName) ? "FAILED" : "COMPLETED";
}

function jobUrl(state: FakeState, id: string): string {
  return `${state.origin}${API_PREFIX}/jobs/${encodeURIComponent(id)}`;
}

function virtualJob(state: FakeState, id: string): Job {
  return {
    id,
    createdAt: state.startedAt,
    status: "RUNNING",
    type: "extract-document",
    pages: 0,
    fileName: "virtual.pdf",
    result: null,
    urls: { get: jobUrl(state, id) },
  };
}

function completedResult(job: Pick<JobRecord, "type" | "source" | "fileName">): unknown {
  if (job.type === "extract-document") return sampleFromShape(job.source.shape ?? GUESSED_SHAPE);
  if (job.type === "guess-shape") return { shape: structuredClone(GUESSED_SHAPE) };
  if (job.type === "raw-extract") {
    return { text: job.source.text?.trim() || `Text extracted from ${job.fileName}.` };
  }
  return {};
}

function sampleFromShape(shape: Shape): Record<string, unknown> {
  return Object.fromEntries(shape.map((element) => [element.name, sampleForElement(element)]));
}

function sampleForElement(element: ShapeElement): unknown {
  const value =
    element.type === "object"
      ? sampleFromShape(element.elements)
      : sampleScalar(element.type, element.name);
  return element.isArray ? [value] : value;
}

function sampleScalar(type: ScalarType, name: string): unknown {
  if (type === "number") return 42;
  if (type === "boolean") return true;
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .trim()
    .toLowerCase();
  return `Sample ${words}`;
}

function filler(bytes: number): string {
  return FILLER_UNIT.repeat(Math.ceil(bytes / FILLER_UNIT.length)).slice(0, bytes);
}

function resultOfSize(bytes: number): { text: string } {
  return { text: filler(Math.max(0, bytes - EMPTY_TEXT_RESULT_BYTES)) };
}

// ------------------------------------------------------------------------------------------------
// Faults

function takeFault(state: FakeState, exchange: Exchange): Fault | undefined {
  const { target } = exchange;
  const decoded = decodeSegment(target) ?? target;
  const body = exchange.body?.toString("utf8") ?? "";
  const fault = state.faults.find(
    (candidate) =>
      (target.includes(candidate.match) || decoded.includes(candidate.match)) &&
      (candidate.bodyIncludes === undefined || body.includes(candidate.bodyIncludes)),
  );
  if (!fault) return undefined;
  fault.remaining -= 1;
  if (fault.remaining <= 0) state.faults = state.faults.filter((candidate) => candidate !== fault);
  return fault;
}

async function applyFault(state: FakeState, exchange: Exchange, fault: Fault): Promise<Reply> {
  switch (fault.mode) {
    case "status":
      return faultStatusReply(fault);
    case "delay":
      await sleep(fault.delayMs, undefined, { signal: exchange.signal });
      return answerApi(state, exchange, true);
    case "hang":
      return { kind: "hang" };
    case "drop":
      return { kind: "drop" };
    case "truncate":
      return { kind: "truncate", text: JSON.stringify(jobForFault(state, exchange)) };
    case "malformed":
      return { kind: "body", status: 200, text: MALFORMED_JSON, headers: jsonContentType() };
    case "offschema":
      return json(200, OFF_SCHEMA_JOB);
    case "huge": {
      const job = jobForFault(state, exchange);
      return json(200, { ...job, status: "COMPLETED", result: { text: filler(fault.bytes) } });
    }
    case "endless": {
      const job = jobForFault(state, exchange);
      const text = JSON.stringify({ ...job, status: "COMPLETED", result: { text: "" } });
      return { kind: "endless", prefix: text.slice(0, text.lastIndexOf('""') + 1) };
    }
    case "other-id": {
      const id = typeof fault.body === "string" ? fault.body : randomUUID();
      return json(200, { ...jobForFault(state, exchange), id });
    }
    case "unknown-status": {
      const status = typeof fault.body === "string" ? fault.body : "QUEUED";
      return json(200, { ...jobForFault(state, exchange), status, result: null });
    }
    default:
      return assertNever(fault.mode);
  }
}

function jsonContentType(): Record<string, string> {
  return { "content-type": "application/json" };
}

function faultStatusReply(fault: Fault): Reply {
  const headers = Object.fromEntries(
    Object.entries(fault.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  if (fault.status === 204 || fault.status === 304) {
    return { kind: "empty", status: fault.status, headers };
  }
  const body = fault.body === undefined ? { error: `fake fault ${fault.status}` } : fault.body;
  // A string body goes out verbatim, so tests can fake an HTML or plain-text error page.
  if (typeof body === "string") {
    const text = { "content-type": "text/plain", ...headers };
    return { kind: "body", status: fault.status, text: body, headers: text };
  }
  return json(fault.status, body, headers);
}

/** The job the faulted request addresses, so fault bodies carry the id the client asked for. */
function jobForFault(state: FakeState, exchange: Exchange): Job {
  const prefix = `${API_PREFIX}/jobs/`;
  const rawId = exchange.path.startsWith(prefix) ? exchange.path.slice(prefix.length) : "";
  const id = decodeSegment(rawId) || randomUUID();
  const job = state.jobs.get(id);
  return job ? viewJob(state, job, performance.now()) : virtualJob(state, id);
}

// ------------------------------------------------------------------------------------------------
// Control API

function serveControl(state: FakeState, exchange: Exchange): Reply {
  const { method } = exchange;
  const route = exchange.path.slice(CONTROL_PREFIX.length);
  if (method === "GET" && route === "/health") return json(200, { ok: true });
  if (method === "POST" && route === "/reset") return answerReset(state);
  if (method === "GET" && route === "/calls") return answerCalls(state, exchange.query);
  if (method === "GET" && route === "/faults") return answerFaultList(state);
  if (method === "POST" && route === "/faults") return answerAddFault(state, exchange);
  if (method === "DELETE" && route === "/faults") return answerRemoveFaults(state, undefined);
  if (method === "DELETE" && route.startsWith("/faults/")) {
    return answerRemoveFaults(state, decodeSegment(route.slice("/faults/".length)) ?? "");
  }
  if (method === "POST" && route === "/jobs") return answerControlCreateJob(state, exchange);
  if (method === "POST" && route === "/job-ids") return answerControlJobId(state, exchange);
  if (method === "PATCH" && route.startsWith("/jobs/")) {
    return answerControlPatchJob(state, exchange, route.slice("/jobs/".length));
  }
  return notFound();
}

function answerReset(state: FakeState): Reply {
  state.faults = [];
  state.calls = [];
  state.idsByFileName.clear();
  state.jobs = seedJobs(state.nextSeq);
  state.nextSeq += SEED_JOBS.length;
  return noContent();
}

function answerCalls(state: FakeState, query: URLSearchParams): Reply {
  const match = query.get("match") ?? "";
  const bodyIncludes = query.get("bodyIncludes") ?? "";
  const calls = state.calls.filter((call) => {
    const target = call.path + call.search;
    return (
      (target.includes(match) || (decodeSegment(target) ?? target).includes(match)) &&
      call.body.includes(bodyIncludes)
    );
  });
  return json(200, { total: calls.length, calls });
}

function answerFaultList(state: FakeState): Reply {
  const faults = state.faults.map((fault) => ({
    ...fault,
    remaining: Number.isFinite(fault.remaining) ? fault.remaining : null,
  }));
  return json(200, { faults });
}

function answerAddFault(state: FakeState, exchange: Exchange): Reply {
  const input = parseControlBody(exchange);
  const fault = input.ok ? parseFault(input.value) : input;
  if (!fault.ok) return jsonError(400, fault.error);
  state.faults.push(fault.value);
  return json(201, { id: fault.value.id });
}

/** undefined removes every fault. */
function answerRemoveFaults(state: FakeState, id: string | undefined): Reply {
  state.faults = id === undefined ? [] : state.faults.filter((fault) => fault.id !== id);
  return noContent();
}

function parseFault(input: Record<string, unknown>): Parsed<Fault> {
  const { match, mode, status, body, headers, delayMs, times, bytes, bodyIncludes } = input;
  if (typeof match !== "string" || match === "") {
    return fail("match is required and must be a non-empty string");
  }
  if (bodyIncludes !== undefined && (typeof bodyIncludes !== "string" || bodyIncludes === "")) {
    return fail("bodyIncludes must be a non-empty string");
  }
  if (!isFaultMode(mode)) return fail(`mode must be one of ${FAULT_MODES.join(", ")}`);
  if (status !== undefined && !isIntegerIn(status, 200, 599)) {
    return fail("status must be an integer between 200 and 599");
  }
  if (delayMs !== undefined && !isIntegerIn(delayMs, 0, MAX_FAULT_DELAY_MS)) {
    return fail(`delayMs must be an integer between 0 and ${MAX_FAULT_DELAY_MS}`);
  }
  if (times !== undefined && !isIntegerIn(times, 1, Number.MAX_SAFE_INTEGER)) {
    return fail("times must be a positive integer");
  }
  if (bytes !== undefined && !isIntegerIn(bytes, 0, MAX_GENERATED_BYTES)) {
    return fail(`bytes must be an integer between 0 and ${MAX_GENERATED_BYTES}`);
  }
  const parsedHeaders = parseHeaders(headers);
  if (!parsedHeaders.ok) return parsedHeaders;
  return ok({
    id: randomUUID(),
    match,
    bodyIncludes,
    mode,
    status: status ?? 500,
    body,
    headers: parsedHeaders.value,
    delayMs: delayMs ?? DEFAULT_FAULT_DELAY_MS,
    remaining: times ?? Number.POSITIVE_INFINITY,
    bytes: bytes ?? DEFAULT_HUGE_BYTES,
  });
}

function isFaultMode(value: unknown): value is FaultMode {
  return FAULT_MODES.includes(value as FaultMode);
}

function parseHeaders(value: unknown): Parsed<Record<string, string>> {
  if (value === undefined) return ok({});
  if (!isRecord(value)) return fail("headers must be an object of strings");
  const headers: Record<string, string> = {};
  for (const [name, headerValue] of Object.entries(value)) {
    if (typeof headerValue !== "string") return fail(`headers.${name} must be a string`);
    try {
      validateHeaderName(name);
      validateHeaderValue(name, headerValue);
    } catch (error) {
      return fail(`headers.${name} is not a valid header: ${describeError(error)}`);
    }
    headers[name] = headerValue;
  }
  return ok(headers);
}

function answerControlJobId(state: FakeState, exchange: Exchange): Reply {
  const input = parseControlBody(exchange);
  if (!input.ok) return jsonError(400, input.error);
  const { fileName, id } = input.value;
  if (typeof fileName !== "string" || fileName === "") {
    return jsonError(400, "fileName must be a non-empty string");
  }
  if (typeof id !== "string" || id === "") return jsonError(400, "id must be a non-empty string");
  state.idsByFileName.set(fileName, id);
  return json(201, { fileName, id });
}

function answerControlCreateJob(state: FakeState, exchange: Exchange): Reply {
  const input = parseControlBody(exchange);
  const job = input.ok ? parseControlJob(input.value, state.nextSeq) : input;
  if (!job.ok) return jsonError(400, job.error);
  if (state.jobs.has(job.value.id)) return jsonError(409, `Job ${job.value.id} already exists`);
  state.nextSeq += 1;
  state.jobs.set(job.value.id, job.value);
  return json(201, viewJob(state, job.value, performance.now()));
}

function parseControlJob(input: Record<string, unknown>, seq: number): Parsed<JobRecord> {
  const { id, status, type, fileName, pages } = input;
  if (id !== undefined && (typeof id !== "string" || id === "")) {
    return fail("id must be a non-empty string");
  }
  if (!isJobStatus(status)) return fail(`status must be one of ${JOB_STATUSES.join(", ")}`);
  if (type !== undefined && (typeof type !== "string" || type === "")) {
    return fail("type must be a non-empty string");
  }
  if (fileName !== undefined && typeof fileName !== "string")
    return fail("fileName must be a string");
  if (pages !== undefined && !isIntegerIn(pages, 0, Number.MAX_SAFE_INTEGER)) {
    return fail("pages must be a non-negative integer");
  }
  const result = parseControlResult(input);
  if (!result.ok) return result;
  const now = Date.now();
  const job: JobRecord = {
    id: id ?? randomUUID(),
    createdAt: new Date(now).toISOString(),
    createdAtMs: now,
    createdTick: performance.now(),
    seq,
    type: type ?? "extract-document",
    fileName: fileName ?? "document.pdf",
    pages: pages ?? (status === "COMPLETED" || status === "FAILED" ? 1 : 0),
    source: { shape: undefined, text: undefined },
    pinned: undefined,
  };
  const fallback = status === "COMPLETED" ? completedResult(job) : null;
  job.pinned = { status, result: result.value ? result.value.result : fallback };
  return ok(job);
}

/** undefined when neither `result` nor `resultBytes` was given. */
function parseControlResult(
  input: Record<string, unknown>,
): Parsed<{ result: unknown } | undefined> {
  const { resultBytes } = input;
  if (resultBytes === undefined)
    return ok("result" in input ? { result: input.result } : undefined);
  if (!isIntegerIn(resultBytes, 0, MAX_GENERATED_BYTES)) {
    return fail(`resultBytes must be an integer between 0 and ${MAX_GENERATED_BYTES}`);
  }
  if ("result" in input) return fail("give result or resultBytes, not both");
  return ok({ result: resultOfSize(resultBytes) });
}

function isJobStatus(value: unknown): value is JobStatus {
  return JOB_STATUSES.includes(value as JobStatus);
}

function answerControlPatchJob(state: FakeState, exchange: Exchange, rawId: string): Reply {
  const job = state.jobs.get(decodeSegment(rawId) ?? rawId);
  if (!job) return jsonError(404, "Job not found");
  const input = parseControlBody(exchange);
  if (!input.ok) return jsonError(400, input.error);
  const { status, pages } = input.value;
  if (status !== undefined && !isJobStatus(status)) {
    return jsonError(400, `status must be one of ${JOB_STATUSES.join(", ")}`);
  }
  if (pages !== undefined && !isIntegerIn(pages, 0, Number.MAX_SAFE_INTEGER)) {
    return jsonError(400, "pages must be a non-negative integer");
  }
  const result = parseControlResult(input.value);
  if (!result.ok) return jsonError(400, result.error);
  const current = viewJob(state, job, performance.now());
  const nextResult = result.value ? result.value.result : patchedResult(job, current, status);
  job.pinned = { status: status ?? current.status, result: nextResult };
  if (pages !== undefined) job.pages = pages;
  return json(200, viewJob(state, job, performance.now()));
}

/** Result when a patch names none: kept if the status stays, made on completion, else null. */
function patchedResult(job: JobRecord, current: Job, status: JobStatus | undefined): unknown {
  if (status === undefined) return current.result;
  if (status !== "COMPLETED") return null;
  return current.result ?? completedResult(job);
}

function parseControlBody(exchange: Exchange): Parsed<Record<string, unknown>> {
  if (exchange.body === undefined) return fail("Request body is too large");
  return parseJsonObject(exchange.body, true);
}

// ------------------------------------------------------------------------------------------------
// CLI

const USAGE =
  "usage: tsx dev/fake-waveline.ts --key <api key> [--port 8788] [--host 127.0.0.1]" +
  " [--latency <ms>] [--step <ms>] [--quiet]";

function cliOptions(args: string[], env: NodeJS.ProcessEnv): FakeWavelineOptions {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      port: { type: "string" },
      host: { type: "string" },
      key: { type: "string" },
      latency: { type: "string" },
      step: { type: "string" },
      quiet: { type: "boolean" },
    },
  });
  const apiKey = values.key ?? env.FAKE_WAVELINE_KEY;
  if (!apiKey) throw new Error("an API key is required (--key or FAKE_WAVELINE_KEY)");
  const options: FakeWavelineOptions = {
    apiKey,
    port: cliInteger(values.port ?? env.FAKE_WAVELINE_PORT, "port") ?? DEFAULT_CLI_PORT,
    host: values.host ?? "127.0.0.1",
    quiet: values.quiet ?? false,
  };
  const latencyMs = cliInteger(values.latency ?? env.FAKE_WAVELINE_LATENCY_MS, "latency");
  const stepMs = cliInteger(values.step ?? env.FAKE_WAVELINE_STEP_MS, "step");
  if (latencyMs !== undefined) options.latencyMs = latencyMs;
  if (stepMs !== undefined) options.stepMs = stepMs;
  return options;
}

function cliInteger(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  if (!/^\d+$/.test(raw)) throw new Error(`--${flag} must be a non-negative integer`);
  return Number(raw);
}

async function runCli(): Promise<void> {
  let options: FakeWavelineOptions;
  try {
    options = cliOptions(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`${describeError(error)}\n${USAGE}`);
    process.exit(2);
  }
  const fake = await startFakeWaveline(options);
  console.log(`fake Waveline listening on ${fake.baseUrl}`);
  const stop = () => void fake.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

function isRunDirectly(): boolean {
  const script = typeof process === "undefined" ? undefined : process.argv?.[1];
  if (script === undefined) return false;
  if (import.meta.url === pathToFileURL(script).href) return true;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isRunDirectly()) {
  runCli().catch((error: unknown) => {
    console.error(`fake Waveline failed to start: ${describeError(error)}`);
    process.exit(1);
  });
}
