import { describe, expect, it } from "vitest";
import { coalesce } from "../../src/core/coalesce";

describe("coalesce", () => {
  it("runs concurrent work with one key once, and again once it settled", async () => {
    let runs = 0;
    const work = async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return runs;
    };

    const results = await Promise.all([coalesce("a", work, 1000), coalesce("a", work, 1000)]);
    expect(results).toEqual([1, 1]);

    expect(await coalesce("a", work, 1000)).toBe(2);
  });

  it("shares a failure with every waiter, then lets the next caller try again", async () => {
    const failing = () => Promise.reject(new Error("upstream down"));

    const settled = await Promise.allSettled([
      coalesce("b", failing, 1000),
      coalesce("b", failing, 1000),
    ]);
    expect(settled.map((result) => result.status)).toEqual(["rejected", "rejected"]);

    expect(await coalesce("b", async () => "ok", 1000)).toBe("ok");
  });

  it("stops waiting for work that never settles (its request was cancelled) and does it itself", async () => {
    coalesce("c", () => new Promise<string>(() => {}), 50);

    const result = await coalesce("c", async () => "own", 50);

    expect(result).toBe("own");
  });
});
