/**
 * The direction of dependencies, checked by `npm run check` (see README, "Layout"):
 * platform/<runtime> -> app.ts -> http/ -> core/ and waveline/; nothing points back outwards.
 * platform/sql/ holds the stores both runtimes build over their SQL database (D1, SQLite).
 */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment:
        "An import cycle makes the order of module evaluation matter: keep the graph acyclic.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "core-knows-no-http",
      severity: "error",
      comment: "The core is plain TypeScript: no Hono, no HTTP layer, no runtime.",
      from: { path: "^src/(core|waveline)/" },
      to: { path: "^src/(http|platform)/|^src/app\\.ts$|(^|/)node_modules/hono/" },
    },
    {
      name: "core-tests-stay-in-core",
      severity: "error",
      comment:
        "A test beside the core's code exercises the core alone: it imports the core and vitest (and fast-check), nothing else.",
      from: { path: "^src/core/.+\\.test\\.ts$" },
      to: {
        pathNot: "^src/core/|(^|/)node_modules/(vitest|@vitest|fast-check)/|^(vitest|fast-check)$",
      },
    },
    {
      name: "core-knows-no-platform-modules",
      severity: "error",
      comment: "Runtime modules (cloudflare:workers, node:*) belong in platform/<runtime>/.",
      from: { path: "^src/(core|waveline|http)/|^src/app\\.ts$" },
      to: { path: "^(cloudflare|node|bun|deno):" },
    },
    {
      name: "http-touches-no-binding",
      severity: "error",
      comment: "Routes and middleware reach storage and the runtime through services only.",
      from: { path: "^src/http/|^src/app\\.ts$" },
      to: { path: "^src/platform/" },
    },
    {
      name: "one-runtime-at-a-time",
      severity: "error",
      comment:
        "A runtime's adapters do not import another runtime's: each builds the core's services itself. Both may use the SQL stores of src/platform/sql/.",
      from: { path: "^src/platform/([^/]+)/" },
      to: { path: "^src/platform/", pathNot: "^src/platform/($1|sql)/" },
    },
    {
      name: "sql-stores-know-no-runtime",
      severity: "error",
      comment:
        "The SQL stores are written against their port (src/platform/sql/database.ts), never a runtime's module or binding types.",
      from: { path: "^src/platform/sql/" },
      to: { path: "^(cloudflare|node|bun|deno):|^src/platform/(?!sql/)|^src/(http|app)" },
    },
    {
      name: "objects-are-thin-shells",
      severity: "error",
      comment:
        "A Durable Object class builds its actor (src/core) from its storage and the services that src/platform/cloudflare/services.ts builds, and delegates to it: it never builds a store or a client, nor reads the configuration, itself.",
      from: { path: "^src/platform/cloudflare/objects/" },
      to: {
        path: "^src/platform/sql/|^src/platform/cloudflare/(kv-tier|cache-api-tier)\\.ts$|^src/waveline/client\\.ts$|^src/core/config\\.ts$",
      },
    },
    {
      name: "no-orphans",
      severity: "error",
      comment: "A module nothing imports is dead code (entries and type declarations aside).",
      from: {
        orphan: true,
        path: "^src/",
        // Entries, type declarations and tests.
        pathNot: "^src/platform/[^/]+/(worker|server|d1-execute)\\.ts$|\\.d\\.ts$|\\.test\\.ts$",
      },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
  },
};
