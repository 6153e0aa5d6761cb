import { Hono } from "hono";
import type { HonoEnv } from "../env";
import { describeRoute } from "../openapi/describe";
import { DOCS_SCRIPT, DOCS_STYLE, docsPage } from "../openapi/docs-page";
import { buildOpenApiDocument, type OpenApiDocument } from "../openapi/document";

/** Public and the same for everyone: shared caches may keep it a few minutes. */
const PUBLIC_CACHE = "public, max-age=300";

/**
 * The API reference of `app`: the OpenAPI document and a page that renders it. Built on first use,
 * once every route of `app` is registered; `aliases` are mounts that repeat the root's routes.
 */
export function apiReference(app: Hono<HonoEnv>, options: { aliases: string[] }) {
  const reference = new Hono<HonoEnv>();
  let document: OpenApiDocument | undefined;
  let pagePolicy: Promise<string> | undefined;

  reference.get(
    "/openapi.json",
    describeRoute({
      operationId: "getOpenApiDocument",
      summary: "This document",
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
    }),
    (c) => {
      document ??= buildOpenApiDocument(app.routes, options);
      return c.json(document, 200, { "Cache-Control": PUBLIC_CACHE });
    },
  );

  reference.get(
    "/docs",
    describeRoute({
      operationId: "getDocsPage",
      summary: "An interactive reference of this document",
      description: "Self-contained (no CDN): it works offline and under `wrangler dev`.",
      tag: "service",
      auth: "public",
      responses: {
        200: { description: "an HTML page", mediaType: "text/html", headers: ["Cache-Control"] },
      },
      errors: {},
    }),
    async (c) => {
      pagePolicy ??= contentSecurityPolicy();
      return c.html(docsPage(), 200, {
        "Cache-Control": PUBLIC_CACHE,
        "Content-Security-Policy": await pagePolicy,
      });
    },
  );

  return reference;
}

/** Only this page's own script and style run, and it talks to this origin alone. */
async function contentSecurityPolicy(): Promise<string> {
  const [script, style] = await Promise.all([sha256Source(DOCS_SCRIPT), sha256Source(DOCS_STYLE)]);
  return [
    "default-src 'none'",
    `script-src ${script}`,
    `style-src ${style}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

async function sha256Source(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return `'sha256-${btoa(String.fromCharCode(...new Uint8Array(digest)))}'`;
}
