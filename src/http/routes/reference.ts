import { Hono } from "hono";
import type { Services } from "../../core/services";
import { staticAsset } from "../assets";
import type { AppEnv } from "../context";
import { describeRoute } from "../openapi/describe";

/** Public and the same for everyone: shared caches may keep it a few minutes. */
const PUBLIC_CACHE = "public, max-age=300";

/**
 * The API reference: the OpenAPI document and a page that renders it, both static files. The
 * document is generated from the routes' own descriptions and schemas by `npm run openapi`
 * (scripts/openapi.ts) into public/, and CI fails when it no longer matches the routes: the JSON
 * Schema conversion and the document builder then stay out of the Worker.
 */
export function apiReference(services: Services) {
  const reference = new Hono<AppEnv>();

  reference.get(
    "/openapi.json",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getOpenApiDocument",
        summary: "This document",
        description:
          "The OpenAPI 3.1 document of every route this proxy serves, generated from the routes themselves.",
        tag: "service",
        auth: "public",
        responses: {
          200: {
            description: "OpenAPI 3.1, generated from the schemas that validate requests",
            mediaType: "application/json",
            headers: ["Cache-Control"],
          },
        },
        errors: {},
      },
    ),
    (c) => staticAsset(services, c, "/openapi.json", { "Cache-Control": PUBLIC_CACHE }),
  );

  reference.get(
    "/docs",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getDocsPage",
        summary: "An interactive reference of this document",
        description:
          "No CDN: the page, its script and its style come from this proxy, so it works offline and under `wrangler dev`.",
        tag: "service",
        auth: "public",
        responses: {
          200: { description: "an HTML page", mediaType: "text/html", headers: ["Cache-Control"] },
        },
        errors: {},
      },
    ),
    (c) => staticAsset(services, c, "/docs/index.html", DOCS_HEADERS),
  );

  reference.get(
    "/docs/:file",
    describeRoute(
      globalThis.OPENAPI && {
        operationId: "getDocsPageFile",
        summary: "The reference page's script or style",
        description:
          "Served from this proxy, so the page's Content-Security-Policy allows only its own origin.",
        tag: "service",
        auth: "public",
        responses: {
          200: {
            description: "`docs.js` or `docs.css` (any other name is a 404)",
            mediaType: "text/javascript",
            headers: ["Cache-Control"],
          },
        },
        errors: { not_found: "no such file of the page" },
      },
    ),
    (c) => {
      const file = c.req.param("file");
      return DOCS_FILES.has(file)
        ? staticAsset(services, c, `/docs/${file}`, DOCS_HEADERS)
        : c.notFound();
    },
  );

  return reference;
}

const DOCS_FILES = new Set(["docs.js", "docs.css"]);

/** Only the page's own script and style run, and it talks to this origin alone. */
const DOCS_HEADERS = {
  "Cache-Control": PUBLIC_CACHE,
  "Content-Security-Policy": [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
};
