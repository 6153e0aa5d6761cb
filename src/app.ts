import { Hono } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId } from "hono/request-id";
import type { HonoEnv } from "./env";
import { requireAdmin } from "./http/admin-auth";
import { withConfig } from "./http/config";
import { browserCors } from "./http/cors";
import { errorResponse, notFound, onError } from "./http/errors";
import { requestLogger } from "./http/logger";
import { withTenancy } from "./http/tenancy";
import { adminJobs } from "./routes/admin/jobs";
import { adminTenants } from "./routes/admin/tenants";
import { demo } from "./routes/demo";
import { health } from "./routes/health";
import { jobs } from "./routes/jobs";
import { tokens } from "./routes/tokens";

export const app = new Hono<HonoEnv>();

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
app.use(withConfig());
app.use(withTenancy());
app.use(browserCors());

app.route("/", health);
app.route("/", demo);

const admin = new Hono<HonoEnv>()
  .use(requireAdmin())
  .route("/", adminTenants)
  .route("/", adminJobs);
app.route("/admin", admin);

// What a Waveline client knows is served at the root and under /api/v1: swap the base URL, done.
for (const mount of ["/", "/api/v1"]) {
  app.route(mount, jobs);
  app.route(mount, tokens);
}

app.notFound(notFound);
app.onError(onError);
