/**
 * The Deno floor: the least Deno.serve can do for GET /jobs/{id}, the Deno proxy's baseline as
 * bench/floor is the Worker's. The same constant job JSON (about 1.3 KiB), built once.
 * `deno run --allow-net bench/deno-floor/server.ts --port N`
 */
const JOB = JSON.stringify({
  id: "00000000-0000-4000-8000-00000000f100",
  createdAt: "2025-01-15T09:00:00.000Z",
  status: "COMPLETED",
  type: "extract-document",
  pages: 1,
  fileName: "document.pdf",
  result: { text: "lorem ipsum dolor sit amet ".repeat(38).slice(0, 1013) },
  urls: { get: "http://127.0.0.1/jobs/00000000-0000-4000-8000-00000000f100" },
});

const port = Number(Deno.args[Deno.args.indexOf("--port") + 1]);
Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, () => {
  return new Response(JOB, { headers: { "Content-Type": "application/json" } });
});
