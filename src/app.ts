import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import type { HonoEnv } from "./env";
import { requireAdmin } from "./http/admin-auth";
import { withConfig } from "./http/config";
import { browserCors } from "./http/cors";
import { errorResponse, fail, notFound, onError } from "./http/errors";
import { REQUEST_LIMITS, requestLimits } from "./http/limits";
import { requestLogger } from "./http/logger";
import { withTenancy } from "./http/tenancy";
import { adminJobs } from "./routes/admin/jobs";
import { adminTenants } from "./routes/admin/tenants";
import { adminWebhooks } from "./routes/admin/webhooks";
import { jobCreation } from "./routes/create-job";
import { demo } from "./routes/demo";
import { health } from "./routes/health";
import { jobs } from "./routes/jobs";
import { apiReference } from "./routes/reference";
import { tokens } from "./routes/tokens";
import { usage } from "./routes/usage";
import { webhooks } from "./routes/webhooks";

export const app = new Hono<HonoEnv>();

/** Job creation has its own, larger limit (MAX_BODY_BYTES); every other body is small. */
const CREATION_PATHS = new Set(
  ["/extract-document", "/guess-shape"].flatMap((path) => [path, `/api/v1${path}`]),
);
const smallBodyLimit = bodyLimit({
  maxSize: REQUEST_LIMITS.smallBodyBytes,
  onError: () => fail(413, `request body is larger than ${REQUEST_LIMITS.smallBodyBytes} bytes`),
});

// Order matters: the request id and the log line wrap everything, including config errors;
// CORS answers preflights before any authentication (each route authenticates itself).
app.use(requestId());
app.use(requestLogger());
app.use(
  methodNotAllowed({
    app,
    onMethodNotAllowed: (c, methods) =>
      errorResponse(c, 405, "method not allowed", { Allow: methods.join(", ") }),
  }),
);
app.use(
  // A JSON API: nothing to frame, sniff or run. Pages that need more set their own CSP.
  secureHeaders({
    overwrite: false,
    xFrameOptions: "DENY",
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  }),
);
app.use(requestLimits());
// A plain path check: hono/combine's except() runs a router match per request.
app.use((c, next) => (CREATION_PATHS.has(c.req.path) ? next() : smallBodyLimit(c, next)));
app.use(withConfig());
app.use(withTenancy());
app.use(browserCors());

app.route("/", health);
app.route("/", demo);

const admin = new Hono<HonoEnv>()
  .use(requireAdmin())
  .route("/", adminTenants)
  .route("/", adminJobs)
  .route("/", adminWebhooks);
app.route("/admin", admin);

// What a Waveline client knows is served at the root and under /api/v1: swap the base URL, done.
const WAVELINE_BASE_PATH = "/api/v1";
for (const mount of ["/", WAVELINE_BASE_PATH]) {
  app.route(mount, jobs);
  app.route(mount, jobCreation);
  app.route(mount, tokens);
  app.route(mount, usage);
  app.route(mount, webhooks);
}

app.route("/", apiReference(app, { aliases: [WAVELINE_BASE_PATH] }));

app.notFound(notFound);
app.onError(onError);
