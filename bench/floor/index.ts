/**
 * The floor: the least a Worker can do for GET /jobs/{id} in this runtime. One constant job JSON,
 * the size of the cache-hit target's (about 1.3 KiB), built once per isolate.
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

export default {
  fetch: () => new Response(JOB, { headers: { "Content-Type": "application/json" } }),
} satisfies ExportedHandler;
