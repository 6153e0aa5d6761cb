import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The client as its users get it: packed (which builds it), installed from the tarball into a
 * project of its own without the network, imported from plain ESM and type-checked there.
 */
const run = promisify(execFile);
const CLIENT_DIR = fileURLToPath(new URL("../../client/", import.meta.url));
const TSC = fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url));

describe("the client package", () => {
  let scratch: string;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), "waveline-client-"));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it("packs its built ESM and types, installs offline, imports and type-checks", async () => {
    const packed = await run("npm", ["pack", "--json", "--pack-destination", scratch], {
      cwd: CLIENT_DIR,
    });
    const [tarball] = JSON.parse(packed.stdout) as {
      filename: string;
      files: { path: string }[];
    }[];
    expect(tarball?.files.map((file) => file.path).sort()).toEqual([
      "dist/index.d.ts",
      "dist/index.js",
      "dist/webhooks.d.ts",
      "dist/webhooks.js",
      "package.json",
    ]);

    await writeFile(
      join(scratch, "package.json"),
      JSON.stringify({ name: "scratch", private: true, type: "module" }),
    );
    // eventsource-parser comes from the npm cache that the repository's `npm ci` filled.
    await run(
      "npm",
      [
        "install",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        join(scratch, tarball?.filename ?? ""),
      ],
      { cwd: scratch },
    );

    const imported = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { createClient, WavelineProxyError } from "@waveline-proxy/client";
         const proxy = createClient({ baseUrl: "https://proxy.example" });
         console.log(JSON.stringify([typeof proxy.watchJob, typeof proxy.waitForJob, typeof WavelineProxyError]));`,
      ],
      { cwd: scratch },
    );
    expect(JSON.parse(imported.stdout)).toEqual(["function", "function", "function"]);

    await writeFile(
      join(scratch, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          lib: ["es2022", "dom"],
          types: [],
          strict: true,
          noEmit: true,
        },
        include: ["use.ts"],
      }),
    );
    await writeFile(
      join(scratch, "use.ts"),
      `import { createClient, type Job, type JobProgress } from "@waveline-proxy/client";
const proxy = createClient({ baseUrl: "https://proxy.example", token: "tok" });
export const done: Promise<Job> = proxy.watchJob("job-1", {
  onProgress: (progress: JobProgress) => console.log(progress.via, progress.job.status),
});
// @ts-expect-error: the types resolved (an \`any\` would accept this)
export const wrong: Promise<number> = proxy.waitForJob("job-1");
`,
    );
    const checked = await run(process.execPath, [TSC, "-p", "tsconfig.json"], {
      cwd: scratch,
    }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? String(err) }));
    expect(checked.stdout).toBe("");
  });
});
