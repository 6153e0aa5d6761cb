import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse } from "smol-toml";
import * as z from "zod/mini";

/**
 * The parts of wrangler.toml the Deno runtime shares with the Worker, so that there is no second
 * copy to keep in step: its rate limits, its migrations and its static pages.
 */
export interface WranglerConfig {
  /** `[[ratelimits]]`: each a fixed window of `limit` per `period` seconds. */
  rateLimits: { binding: string; limit: number; period: number }[];
  /** The one `[[d1_databases]]`'s migrations directory, made absolute. */
  migrationsDir: string;
  /** `[assets]`'s directory, made absolute. */
  assetsDir: string;
}

const bindingName = z.string().check(z.regex(/^[A-Z_][A-Z0-9_]*$/, "must be an UPPER_CASE name"));

const schema = z.object({
  ratelimits: z.array(
    z.object({
      name: bindingName,
      simple: z.object({
        limit: z.int().check(z.positive("must be positive")),
        period: z.union([z.literal(10), z.literal(60)], { error: "must be 10 or 60 (seconds)" }),
      }),
    }),
  ),
  d1_databases: z
    .array(z.object({ migrations_dir: z.string().check(z.minLength(1, "must not be empty")) }))
    .check(z.length(1, "the Deno runtime hosts exactly one D1 database")),
  assets: z.object({ directory: z.string().check(z.minLength(1, "must not be empty")) }),
});

/**
 * wrangler.toml's text as the Deno runtime needs it; paths in it are taken relative to `root`
 * (the directory wrangler.toml is in). Throws naming each field that is missing or wrong.
 */
export function parseWranglerConfig(text: string, root: string): WranglerConfig {
  let toml: unknown;
  try {
    toml = parse(text);
  } catch (err) {
    throw new Error(`wrangler.toml is not valid TOML: ${(err as Error).message}`);
  }
  const result = z.safeParse(schema, toml, {
    error: (issue) =>
      issue.input === undefined
        ? "missing"
        : issue.code === "invalid_type"
          ? `must be of type ${issue.expected}`
          : undefined,
  });
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) =>
        `${
          issue.path
            .map((key) => (typeof key === "number" ? `[${key}]` : `.${String(key)}`))
            .join("")
            .slice(1) || "(top level)"
        }: ${issue.message}`,
    );
    throw new Error(`wrangler.toml lacks what the Deno runtime needs: ${problems.join("; ")}`);
  }
  const config = result.data;
  const [d1] = config.d1_databases;
  return {
    rateLimits: config.ratelimits.map((r) => ({ binding: r.name, ...r.simple })),
    migrationsDir: resolve(root, d1.migrations_dir),
    assetsDir: resolve(root, config.assets.directory),
  };
}

const REPO = new URL("../../../", import.meta.url).pathname;

/** The project's own wrangler.toml, the one `wrangler deploy` reads. */
export function readWranglerConfig(): WranglerConfig {
  return parseWranglerConfig(readFileSync(resolve(REPO, "wrangler.toml"), "utf8"), REPO);
}
