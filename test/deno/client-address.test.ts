import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestStack, type TestStack } from "../e2e/test-stack";

/**
 * On Workers, Cloudflare sets CF-Connecting-IP itself. The Deno server sets it from the TCP peer
 * and ignores a client's own, or a guesser could give each attempt a new address and never meet
 * the failed-auth limit (30 a minute per address, wrangler.toml).
 */
describe("the Deno server's client address", () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({}, { runtime: "deno" });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it("counts failed authentication by the peer's address, whatever CF-Connecting-IP says", async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 31; attempt++) {
      const response = await fetch(`${stack.proxyUrl}/jobs`, {
        headers: { Authorization: "Bearer wrong", "CF-Connecting-IP": `198.51.100.${attempt}` },
      });
      statuses.push(response.status);
    }
    expect(statuses.slice(0, 30).every((status) => status === 401)).toBe(true);
    expect(statuses[30]).toBe(429);
  });
});
