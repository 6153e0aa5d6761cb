import { extname, join, normalize } from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/**
 * The `ASSETS` binding over a directory (`[assets] directory` in wrangler.toml), with
 * `html_handling = "none"`: a path is a file or a 404, never rewritten.
 */
export function directoryAssets(root: string): {
  fetch(input: RequestInfo | URL): Promise<Response>;
} {
  return {
    async fetch(input) {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const path = normalize(decodeURIComponent(url.pathname));
      if (path.split("/").includes("..")) return new Response("Not Found", { status: 404 });
      try {
        const file = await Deno.readFile(join(root, path));
        return new Response(file, {
          headers: {
            "Content-Type": TYPES[extname(path)] ?? "application/octet-stream",
          },
        });
      } catch {
        return new Response("Not Found", { status: 404 });
      }
    },
  };
}
