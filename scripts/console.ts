/**
 * `npm run console`: bundles the console's sources (console/: TypeScript, its style, uPlot) into
 * public/console/console.js and console.css, which the proxy serves as static assets (never in
 * the Worker's bundle). The output is committed, so that `wrangler deploy`, `npm run dev`, the
 * tests, the bench and Deno all serve it without a build step of their own; `npm run check`
 * rebuilds it and fails when the committed files differ.
 */
import { build } from "esbuild";

await build({
  entryPoints: { console: "console/main.ts" },
  outdir: "public/console",
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2022",
  platform: "browser",
  legalComments: "eof",
  logLevel: "info",
});
