import { describe, expect, it } from "vitest";
import { DEFAULT_RETRY_DELAYS_S, retryDelayMs } from "./schedule";

const NOW = Date.parse("2026-12-07T12:00:00Z");
const middle = () => 0.5;
const DAY_MS = 24 * 60 * 60 * 1000;

describe("retryDelayMs", () => {
  it("follows the schedule: the nth failed attempt waits the nth delay", () => {
    const delays = [5, 300, 1800];
    expect(retryDelayMs(1, delays, null, NOW, middle)).toBe(5_000);
    expect(retryDelayMs(2, delays, null, NOW, middle)).toBe(300_000);
    expect(retryDelayMs(3, delays, null, NOW, middle)).toBe(1_800_000);
  });

  it("is spent after the last delay", () => {
    expect(retryDelayMs(4, [5, 300, 1800], null, NOW, middle)).toBeUndefined();
    expect(retryDelayMs(DEFAULT_RETRY_DELAYS_S.length + 1, DEFAULT_RETRY_DELAYS_S)).toBeUndefined();
  });

  it("jitters by at most 10 % either way", () => {
    expect(retryDelayMs(1, [300], null, NOW, () => 0)).toBe(270_000);
    expect(retryDelayMs(1, [300], null, NOW, () => 0.999_999)).toBe(330_000);
  });

  it("the default schedule lasts about three days over a dozen attempts", () => {
    const total = DEFAULT_RETRY_DELAYS_S.reduce((sum, s) => sum + s, 0) * 1000;
    expect(total).toBeGreaterThan(2.5 * DAY_MS);
    expect(total).toBeLessThan(3.5 * DAY_MS);
    expect(DEFAULT_RETRY_DELAYS_S[0]).toBe(5);
  });

  it("never retries before the receiver's Retry-After, in seconds or as a date", () => {
    expect(retryDelayMs(1, [5], "120", NOW, middle)).toBe(120_000);
    const inTenMinutes = new Date(NOW + 600_000).toUTCString();
    expect(retryDelayMs(1, [5], inTenMinutes, NOW, middle)).toBe(600_000);
  });

  it("keeps its own delay when Retry-After asks for less, is past, or cannot be read", () => {
    expect(retryDelayMs(1, [300], "1", NOW, middle)).toBe(300_000);
    expect(retryDelayMs(1, [5], new Date(NOW - 60_000).toUTCString(), NOW, middle)).toBe(5_000);
    expect(retryDelayMs(1, [5], "soon", NOW, middle)).toBe(5_000);
    expect(retryDelayMs(1, [5], "-30", NOW, middle)).toBe(5_000);
  });

  it("lets a receiver park a delivery for a day at most", () => {
    expect(retryDelayMs(1, [5], String(30 * 24 * 3600), NOW, middle)).toBe(DAY_MS);
  });
});
