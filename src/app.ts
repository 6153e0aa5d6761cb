import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import { secureHeaders } from "hono/secure-headers";
import type { Services } from "./core/services";
import { requireAdmin } from "./http/admin-auth";
import type { AppEnv } from "./http/context";
import { browserCors } from "./http/cors";
import { errorResponse, fail, notFound, onError } from "./http/errors";
import { REQUEST_LIMITS, requestLimits } from "./http/limits";
import { requestLogger } from "./http/logger";
import { requestMetrics } from "./http/metrics";
import { adminAuditRoutes } from "./http/routes/admin/audit";
import { adminJobsRoutes } from "./http/routes/admin/jobs";
import { adminTenantsRoutes } from "./http/routes/admin/tenants";
import { adminWebhooksRoutes } from "./http/routes/admin/webhooks";
import { consoleRoutes } from "./http/routes/console";
import { jobCreationRoutes } from "./http/routes/create-job";
import { demoRoutes } from "./http/routes/demo";
import { healthRoutes } from "./http/routes/health";
import { jobRoutes } from "./http/routes/jobs";
import { adminMetricsRoutes, usageMetricsRoutes } from "./http/routes/metrics";
import { apiReference } from "./http/routes/reference";
import { tokensRoutes } from "./http/routes/tokens";
import { usageRoutes } from "./http/routes/usage";
import { webhookRoutesOfTenant } from "./http/routes/webhooks";

/** What a Waveline client knows is served at the root and under /api/v1: swap the base URL, done. */
export const WAVELINE_BASE_PATH = "/api/v1";

/** Job creation has its own, larger limit (MAX_BODY_BYTES); every other body is small. */
const CREATION_PATHS = new Set(
  ["/extract-document", "/guess-shape"].flatMap((path) => [path, `${WAVELINE_BASE_PATH}${path}`]),
);

// A JSON API: nothing to frame, sniff or run. Pages that need more set their own CSP.
const jsonApiHeaders = secureHeaders({
  overwrite: false,
  xFrameOptions: "DENY",
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
});

/**
 * The proxy as a Hono app over `services`, built once per isolate by a runtime's entry. Each
 * request then brings only its own parts (`RequestPlatform`: `waitUntil`, the client's address).
 */
export function createApp(services: Services): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const smallBodyLimit = bodyLimit({
    maxSize: REQUEST_LIMITS.smallBodyBytes,
    onError: () =>
      fail("body_too_large", `request body is larger than ${REQUEST_LIMITS.smallBodyBytes} bytes`),
  });

  // Order matters: the request id and the log line wrap everything; CORS answers preflights
  // before any authentication (each route authenticates itself).
  app.use(requestId());
  app.use(requestLogger(services.traces));
  app.use(requestMetrics(services));
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        errorResponse(c, "method_not_allowed", "method not allowed", { Allow: methods.join(", ") }),
    }),
  );
  app.use(jsonApiHeaders);
  app.use(requestLimits());
  // A plain path check: hono/combine's except() runs a router match per request.
  app.use((c, next) => (CREATION_PATHS.has(c.req.path) ? next() : smallBodyLimit(c, next)));
  app.use(browserCors());

  app.route("/", healthRoutes());
  app.route("/", demoRoutes(services));
  app.route("/", consoleRoutes(services));

  const admin = new Hono<AppEnv>()
    .use(requireAdmin(services))
    .route("/", adminTenantsRoutes(services))
    .route("/", adminJobsRoutes(services))
    .route("/", adminWebhooksRoutes(services))
    .route("/", adminMetricsRoutes(services))
    .route("/", adminAuditRoutes(services));
  app.route("/admin", admin);

  const tenantApi = new Hono<AppEnv>()
    .route("/", jobRoutes(services))
    .route("/", jobCreationRoutes(services))
    .route("/", tokensRoutes(services))
    .route("/", usageRoutes(services))
    .route("/", usageMetricsRoutes(services))
    .route("/", webhookRoutesOfTenant(services));
  for (const mount of ["/", WAVELINE_BASE_PATH]) app.route(mount, tenantApi);

  app.route("/", apiReference(services));

  app.notFound(notFound);
  app.onError(onError);
  return app;
}

/** What answers while the configuration is broken: every request a 503 that says why. */
export function unconfiguredApp(problem: string): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use(requestLogger());
  app.use(jsonApiHeaders);
  app.all("*", (c) => {
    c.var.log.alert("invalid configuration", { problem });
    return errorResponse(c, "not_configured", `proxy is not configured: ${problem}`);
  });
  app.onError(onError);
  return app;
}
