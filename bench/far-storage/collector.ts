import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

/**
 * Hands the run its settings, from the environment `npm run bench -- --far-storage` sets
 * (bench/lib/far-storage.ts), and takes its figures back: workerd cannot write files, so the run
 * POSTs them to this server on 127.0.0.1, which writes them to FAR_STORAGE_RESULTS.
 */
export default async function collect(project: TestProject) {
  const { FAR_STORAGE_TENANTS, FAR_STORAGE_DELAY_MS, FAR_STORAGE_RESULTS } = process.env;
  if (!FAR_STORAGE_TENANTS || !FAR_STORAGE_DELAY_MS || !FAR_STORAGE_RESULTS) {
    throw new Error("the far-storage run is started by `npm run bench -- --far-storage`");
  }
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      writeFileSync(FAR_STORAGE_RESULTS, Buffer.concat(chunks));
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  project.provide("farStorage", {
    tenants: Number(FAR_STORAGE_TENANTS),
    delayMs: Number(FAR_STORAGE_DELAY_MS),
    resultsUrl: `http://127.0.0.1:${port}/figures`,
  });
  return () => new Promise<void>((resolve) => server.close(() => resolve()));
}
