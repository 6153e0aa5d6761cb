/**
 * `npm run loadtest [-- --short] [-- --deno] [-- --requests N --connections N]`: the proxy under
 * load, as real processes over real HTTP (`wrangler dev`, or the Deno server with `--deno`, and
 * the fake Waveline, state in a temp dir), with an
 * expected status for every request. Prints the figures and the pass criteria; exits 1 on any
 * failure, 2 on a usage mistake.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { Runtime } from "../../dev/stack";
import { startTestStack, type TestStack } from "../e2e/test-stack";
import { type LoadTenant, setUpCrowd, setUpTenants, upstreamJobCount } from "./fixture";
import { type Answer, loadClient } from "./http";
import {
  type LoadWorld,
  type Planned,
  planNext,
  SCENARIO_NAMES,
  type ScenarioName,
} from "./scenarios";
import {
  type Verdict,
  verifyCreationLimit,
  verifyEndUserShares,
  verifyGuesser,
  verifyHealth,
  verifyListings,
  verifyOverBudget,
  verifyRecordedJobs,
  verifyUpstreamCreations,
} from "./verify";

interface Budget {
  runtime: Runtime;
  requests: number;
  connections: number;
  /** The load itself must be done by then; the whole run, setup included, by `totalS`. */
  loadS: number;
  totalS: number;
}

// Time budgets catch a hang, not slowness: a 2-core machine shared with other work may manage
// only 40 requests a second through wrangler dev.
const FULL: Omit<Budget, "runtime"> = {
  requests: 20_000,
  connections: 64,
  loadS: 900,
  totalS: 1200,
};
const SHORT: Omit<Budget, "runtime"> = {
  requests: 3_000,
  connections: 32,
  loadS: 150,
  totalS: 300,
};
const REQUEST_TIMEOUT_MS = 30_000;
const TENANTS = 5;
const LIMITED_CREATES_PER_MIN = 20;
/**
 * The crowd tenant: the noisy end user alone would take all its reads in a short run, while its
 * share (a tenth) leaves the quiet ones (each a few reads a minute) far more than they use.
 */
const CROWD = { quietUsers: 20, readsPerMinute: 200, endUserReadsPerMinute: 20 };
/** Far above what the run sends: the point is correctness under load, not the limiter. */
const GENEROUS_PER_MIN = "1000000";
const EXAMPLES = 8;

const USAGE = `Usage: npm run loadtest [-- --short] [-- --deno] [-- --requests N] [-- --connections N]
  --short          the CI form: ${SHORT.requests} requests over ${SHORT.connections} connections
  --deno           the proxy on Deno (src/platform/deno) instead of wrangler dev
  --requests N     default ${FULL.requests}
  --connections N  default ${FULL.connections}`;

/** What the run saw, request by request. */
interface Tally {
  latencies: number[];
  statuses: Map<string, number>;
  scenarios: Map<ScenarioName, Map<string, number>>;
  xCache: Map<string, number>;
  unexpected: number;
  wrongAnswers: number;
  crossTenantSuccesses: number;
  leaks: number;
  /** Requests wrangler dev dropped before the Worker answered, sent again. */
  resent: number;
  examples: string[];
  /** What the Worker and wrangler said around the first problems. */
  workerLines: Set<string>;
}

async function main(): Promise<number> {
  const budget = parseBudget();
  if (!budget) return 2;
  let starting: Promise<TestStack> | undefined;
  let stack: TestStack | undefined;
  let stopping: Promise<void> | undefined;
  // A signal during startup waits for wrangler to be up, so that it is never left running.
  const stop = () => {
    stopping ??= starting
      ? starting.then(
          (started) => started.stop(),
          () => undefined,
        )
      : Promise.resolve();
    return stopping;
  };
  let aborted = false;
  const abort = (why: string, code: number) => {
    aborted = true;
    console.error(`\nload test: ${why}; stopping the proxy and the fake Waveline`);
    void stop().finally(() => process.exit(code));
  };
  process.once("SIGINT", () => abort("interrupted", 130));
  process.once("SIGTERM", () => abort("terminated", 143));
  const watchdog = setTimeout(
    () => abort(`not done within ${budget.totalS} s`, 1),
    budget.totalS * 1000,
  );

  try {
    const started = Date.now();
    const secrets = {
      WAVELINE_API_KEY: `wl-load-${randomBytes(18).toString("hex")}`,
      ADMIN_TOKEN: `admin-load-${randomBytes(18).toString("hex")}`,
      TOKEN_SIGNING_KEYS: JSON.stringify([
        { kid: "load-1", secret: randomBytes(32).toString("hex") },
      ]),
    };
    starting = startTestStack(
      {
        ...secrets,
        READ_RATE_LIMIT_PER_MIN: GENEROUS_PER_MIN,
        CREATE_RATE_LIMIT_PER_MIN: GENEROUS_PER_MIN,
      },
      // Scenarios send each bad credential from an address of its own, in CF-Connecting-IP:
      // wrangler dev passes it through; the Deno server takes it as from a trusted front proxy.
      { runtime: budget.runtime, clientAddressHeader: "CF-Connecting-IP" },
    );
    stack = await starting;
    const since = new Date();
    const tenants = await setUpTenants(stack, {
      tenants: TENANTS,
      terminalPerTenant: 8,
      runningPerTenant: 2,
      limitedCreatesPerMinute: LIMITED_CREATES_PER_MIN,
    });
    const crowd = await setUpCrowd(stack, CROWD);
    const upstreamBefore = await upstreamJobCount(stack);
    const signingSecret = (JSON.parse(secrets.TOKEN_SIGNING_KEYS) as { secret: string }[])[0]
      ?.secret;
    // Every byte of every answer is searched for these; API keys are only ever shown at creation.
    const secretValues = [
      secrets.WAVELINE_API_KEY,
      secrets.ADMIN_TOKEN,
      signingSecret ?? "",
      ...tenants.flatMap((tenant) => [tenant.apiKey, tenant.revokedKey]),
    ];
    console.log(
      `load test: ${budget.requests} requests over ${budget.connections} connections, ${TENANTS} tenants ` +
        `(one limited to ${LIMITED_CREATES_PER_MIN} creations/min), one of ${CROWD.quietUsers + 1} end users ` +
        `(${CROWD.readsPerMinute} reads/min, ${CROWD.endUserReadsPerMinute} each); set up in ${seconds(Date.now() - started)}`,
    );

    const world: LoadWorld = {
      proxyUrl: stack.proxyUrl,
      tenants,
      crowd,
      etags: new Map(),
      progress: new Map(),
      listings: [],
      creations: 0,
      replayable: [],
      badCredentials: 0,
    };
    const tally = emptyTally();
    const loadStart = Date.now();
    const sent = await drive(world, tally, budget, secretValues, stack.output);
    const loadEnd = Date.now();
    const durationMs = loadEnd - loadStart;

    printFigures(tally, sent, durationMs);
    const limited = tenants.find((tenant) => tenant.createsPerMinute !== null) as LoadTenant;
    const limitedCounts = tally.scenarios.get("create-limited") ?? new Map<string, number>();
    const overBudgetCounts = tally.scenarios.get("over-budget") ?? new Map<string, number>();
    // Refusals spend the limited tenant's creation limit like its creations.
    const limitedAttempts = total(limitedCounts) + total(overBudgetCounts);
    const limitedRefused = (limitedCounts.get("429") ?? 0) + (overBudgetCounts.get("429") ?? 0);
    const guesses = tally.scenarios.get("guesser") ?? new Map<string, number>();
    const created = tenants.reduce((sum, tenant) => sum + tenant.created.length, 0);
    const verdicts: Verdict[] = [
      {
        ok: sent === budget.requests,
        label: `${sent} of ${budget.requests} requests sent within ${budget.loadS} s`,
      },
      { ok: tally.unexpected === 0, label: `${tally.unexpected} unexpected statuses` },
      {
        ok: tally.wrongAnswers === 0,
        label: `${tally.wrongAnswers} wrong answers (body, headers)`,
      },
      {
        ok: tally.crossTenantSuccesses === 0,
        label: `${tally.crossTenantSuccesses} cross-tenant successes`,
      },
      verifyListings(world),
      { ok: tally.leaks === 0, label: `${tally.leaks} answers with a secret in them` },
      await verifyRecordedJobs(stack, tenants, since),
      await verifyUpstreamCreations(stack, upstreamBefore, created),
      verifyCreationLimit(limited, limitedAttempts, limitedRefused, durationMs),
      await verifyOverBudget(stack, limited, overBudgetCounts, limitedAttempts, durationMs),
      verifyEndUserShares(
        crowd,
        tally.scenarios.get("noisy-end-user") ?? new Map<string, number>(),
        tally.scenarios.get("quiet-end-users") ?? new Map<string, number>(),
        durationMs,
      ),
      verifyGuesser(total(guesses), guesses.get("429") ?? 0, loadStart, loadEnd),
      await verifyHealth(stack),
    ];
    const passed = printVerdicts(verdicts, tally.examples, tally.workerLines);
    console.log(`\nload test ${passed ? "PASSED" : "FAILED"} in ${seconds(Date.now() - started)}`);
    return passed ? 0 : 1;
  } catch (err) {
    if (aborted) return 1;
    console.error(`load test could not run: ${(err as Error).message}`);
    if (stack) console.error(stack.output());
    return 1;
  } finally {
    clearTimeout(watchdog);
    await stop();
  }
}

/** Sends the mix with bounded concurrency until the count or the time budget is spent. */
async function drive(
  world: LoadWorld,
  tally: Tally,
  budget: Budget,
  secrets: string[],
  workerOutput: () => string,
): Promise<number> {
  const client = loadClient(world.proxyUrl, budget.connections, REQUEST_TIMEOUT_MS);
  const deadline = Date.now() + budget.loadS * 1000;
  let sent = 0;
  let progressAt = Date.now();
  const worker = async () => {
    while (sent < budget.requests && Date.now() < deadline) {
      sent++;
      const planned = planNext(world);
      let answer: Answer | undefined;
      let failure = "";
      try {
        answer = await client.send(planned.request);
        for (let resend = 0; answer && droppedByDevServer(answer) && resend < 2; resend++) {
          tally.resent++;
          answer = await client.send(planned.request);
        }
      } catch (err) {
        failure = (err as Error).message;
      }
      const problems = tally.examples.length;
      judge(tally, planned, answer, failure, secrets);
      if (tally.examples.length > problems) noteWorkerLines(tally, workerOutput());
      if (Date.now() - progressAt > 10_000) {
        progressAt = Date.now();
        console.log(`  … ${sent} requests sent`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: budget.connections }, worker));
  } finally {
    client.close();
  }
  return sent;
}

/** Books one answer and checks it against what its scenario expects. */
function judge(
  tally: Tally,
  planned: Planned,
  answer: Answer | undefined,
  failure: string,
  secrets: string[],
): void {
  const status = answer ? String(answer.status) : "no answer";
  bump(tally.statuses, status);
  const perScenario = tally.scenarios.get(planned.scenario) ?? new Map<string, number>();
  tally.scenarios.set(planned.scenario, bump(perScenario, status));
  const what = `${planned.scenario}: ${planned.request.method} ${planned.request.path}`;
  const note = (message: string) => {
    if (tally.examples.length < EXAMPLES) tally.examples.push(`${what}: ${message}`);
  };
  if (!answer) {
    tally.unexpected++;
    note(`no answer (${failure})`);
    return;
  }
  tally.latencies.push(answer.ms);
  const xCache = answer.headers["x-cache"];
  if (typeof xCache === "string") bump(tally.xCache, xCache);

  const everything = `${JSON.stringify(answer.headers)}\n${answer.body}`;
  if (secrets.some((secret) => everything.includes(secret))) {
    tally.leaks++;
    note("a secret in the answer");
  }
  if (planned.foreign && answer.status < 300) {
    tally.crossTenantSuccesses++;
    note(`${answer.status}: read what is not the caller's`);
  }
  if (!planned.expect.includes(answer.status)) {
    tally.unexpected++;
    note(`${answer.status}, expected ${planned.expect.join(" or ")}: ${answer.body.slice(0, 160)}`);
    return;
  }
  const problem = generalProblem(answer) ?? planned.check?.(answer);
  if (problem) {
    tally.wrongAnswers++;
    note(problem);
  }
  planned.record?.(answer);
}

/**
 * wrangler dev's own front proxy answers this when its connection to the Worker broke before the
 * Worker answered (a keep-alive race between its two workerd processes). It resends GETs itself
 * and asks clients to resend the rest; whether the Worker saw the request is settled by the D1
 * and upstream counts, which must still match the 201s exactly.
 */
function droppedByDevServer(answer: Answer): boolean {
  return (
    answer.status === 503 &&
    !answer.headers["x-request-id"] &&
    answer.body.startsWith("Your worker restarted mid-request")
  );
}

/** wrangler keeps its last lines only: read the Worker's warnings and errors as problems happen. */
function noteWorkerLines(tally: Tally, output: string): void {
  const worrying = /"level":"(warn|error|alert)"|exception|Error|✘/;
  for (const line of output.split("\n")) {
    if (tally.workerLines.size >= EXAMPLES * 2) return;
    if (worrying.test(line)) tally.workerLines.add(line.slice(0, 300));
  }
}

/** What every answer owes its caller: a request id, and errors as JSON `{ "error": string }`. */
function generalProblem(answer: Answer): string | undefined {
  if (!answer.headers["x-request-id"]) return "no X-Request-Id";
  if (answer.status < 400) return undefined;
  let body: { error?: unknown; code?: unknown } = {};
  try {
    body = JSON.parse(answer.body) as typeof body;
  } catch {
    // not JSON
  }
  return typeof body.error === "string" && typeof body.code === "string"
    ? undefined
    : `error body is not {"error": string, "code": string}: ${answer.body.slice(0, 80)}`;
}

function printFigures(tally: Tally, sent: number, durationMs: number): void {
  const sorted = [...tally.latencies].sort((a, b) => a - b);
  const at = (p: number) =>
    `${Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0)} ms`;
  const rate = Math.round(sent / (durationMs / 1000));
  console.log(`
requests   ${sent} in ${seconds(durationMs)}: ${rate} req/s
latency    p50 ${at(0.5)} · p90 ${at(0.9)} · p99 ${at(0.99)} · max ${at(1)}
statuses   ${histogram(tally.statuses)}
x-cache    ${histogram(tally.xCache)}
resent     ${tally.resent} dropped by wrangler dev's front proxy before the Worker answered

scenario         requests  statuses`);
  for (const name of SCENARIO_NAMES) {
    const counts = tally.scenarios.get(name) ?? new Map<string, number>();
    console.log(`${name.padEnd(16)} ${String(total(counts)).padStart(8)}  ${histogram(counts)}`);
  }
}

function printVerdicts(verdicts: Verdict[], examples: string[], workerLines: Set<string>): boolean {
  console.log("\nchecks");
  for (const verdict of verdicts) {
    console.log(`  ${verdict.ok ? "ok  " : "FAIL"}  ${verdict.label}`);
    for (const detail of verdict.details ?? []) console.log(`          ${detail}`);
  }
  if (examples.length > 0) {
    console.log(`\nfirst problems (of the ones above):`);
    for (const example of examples) console.log(`  ${example}`);
  }
  if (workerLines.size > 0) {
    console.log("\nthe Worker and wrangler around them:");
    for (const line of workerLines) console.log(`  ${line}`);
  }
  return verdicts.every((verdict) => verdict.ok);
}

function parseBudget(): Budget | undefined {
  try {
    const { values } = parseArgs({
      options: {
        short: { type: "boolean" },
        deno: { type: "boolean" },
        requests: { type: "string" },
        connections: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      return undefined;
    }
    const base = values.short ? SHORT : FULL;
    const requests = positive(values.requests, base.requests, "--requests");
    const connections = positive(values.connections, base.connections, "--connections");
    return { ...base, runtime: values.deno ? "deno" : "workers", requests, connections };
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return undefined;
  }
}

function positive(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 1_000_000) {
    throw new Error(`${name} must be a whole number from 1 to 1000000`);
  }
  return value;
}

function emptyTally(): Tally {
  return {
    latencies: [],
    statuses: new Map(),
    scenarios: new Map(),
    xCache: new Map(),
    unexpected: 0,
    wrongAnswers: 0,
    crossTenantSuccesses: 0,
    leaks: 0,
    resent: 0,
    examples: [],
    workerLines: new Set(),
  };
}

function bump(counts: Map<string, number>, key: string): Map<string, number> {
  return counts.set(key, (counts.get(key) ?? 0) + 1);
}

function total(counts: Map<string, number>): number {
  return [...counts.values()].reduce((sum, n) => sum + n, 0);
}

function histogram(counts: Map<string, number>): string {
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, n]) => `${key}: ${n}`)
    .join(" · ");
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

process.exitCode = await main();
