/**
 * `npm run openapi`: writes public/openapi.json, the OpenAPI document of every route the app
 * serves, from the routes' own descriptions and the schemas that validate their requests. The
 * Worker serves the file as it is (keeping the JSON Schema conversion out of its bundle);
 * `npm run check` regenerates it and fails when the committed one differs.
 */
import { writeFileSync } from "node:fs";
import { createApp, WAVELINE_BASE_PATH } from "../src/app";
import { readConfig } from "../src/core/config";
import type { Services } from "../src/core/services";
import { buildOpenApiDocument } from "../src/http/openapi/document";

const FILE = new URL("../public/openapi.json", import.meta.url);

// The routes carry their descriptions only when asked (the Worker's bundle leaves them out).
globalThis.OPENAPI = true;
const defaults = readConfig({});
if (!defaults.ok) throw new Error(defaults.problem);
// Routes capture their services when built and use them only per request: none is called here.
const app = createApp({ config: defaults.config } as Services);
const document = buildOpenApiDocument(app.routes, { aliases: [WAVELINE_BASE_PATH] });
writeFileSync(FILE, `${JSON.stringify(document, null, 2)}\n`);
console.log(`wrote ${FILE.pathname}`);
