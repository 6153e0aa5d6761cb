import { describe, expect, it } from "vitest";
import {
  API_KEY_PREFIX,
  generateApiKey,
  hashApiKey,
  isLegacyKey,
  type KeyCheck,
  looksLikeApiKey,
  mayBeLiveKey,
} from "./keys";

const SECRET = "tag-secret-of-this-database";
const checkWith = (legacy: string[] = []): KeyCheck => ({
  tagSecret: SECRET,
  legacyHashes: new Set(legacy),
});
const mayBeLive = async (check: KeyCheck, key: string) =>
  mayBeLiveKey(check, key, await hashApiKey(key));

describe("API keys and their tags", () => {
  it("a generated key passes, shows only its prefix, and is stored as its SHA-256", async () => {
    const generated = await generateApiKey(SECRET);
    expect(generated.key.startsWith(API_KEY_PREFIX)).toBe(true);
    expect(looksLikeApiKey(generated.key)).toBe(true);
    expect(isLegacyKey(generated.key)).toBe(false);
    expect(generated.prefix).toBe(generated.key.slice(0, 10));
    expect(generated.hash).toBe(await hashApiKey(generated.key));
    expect(await mayBeLive(checkWith(), generated.key)).toBe(true);
  });

  it("two generated keys differ", async () => {
    const [a, b] = await Promise.all([generateApiKey(SECRET), generateApiKey(SECRET)]);
    expect(a.key).not.toBe(b.key);
  });

  it("a made-up key of the right shape fails, and so does a real one with one character changed", async () => {
    const { key } = await generateApiKey(SECRET);
    const madeUp = `${API_KEY_PREFIX}${"A".repeat(54)}`;
    expect(isLegacyKey(madeUp)).toBe(false);
    expect(await mayBeLive(checkWith(), madeUp)).toBe(false);
    const last = key.at(-1) === "A" ? "B" : "A";
    expect(await mayBeLive(checkWith(), `${key.slice(0, -1)}${last}`)).toBe(false);
    const body = key.at(10) === "A" ? "B" : "A";
    expect(await mayBeLive(checkWith(), `${key.slice(0, 10)}${body}${key.slice(11)}`)).toBe(false);
  });

  it("takes only the tag's own spelling: the other three of its last character fail", async () => {
    // 11 characters carry 66 bits for the tag's 64: the last one's two low bits are padding.
    const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (let round = 0; round < 8; round++) {
      const { key } = await generateApiKey(SECRET);
      const value = ALPHABET.indexOf(key.at(-1) ?? "");
      expect(await mayBeLive(checkWith(), key)).toBe(true);
      for (let low = 0; low < 4; low++) {
        const other = (value & ~3) | low;
        if (other === value) continue;
        const respelled = `${key.slice(0, -1)}${ALPHABET[other]}`;
        expect(await mayBeLive(checkWith(), respelled)).toBe(false);
      }
    }
  });

  it("a key tagged under another database's secret fails", async () => {
    const { key } = await generateApiKey("another-secret");
    expect(await mayBeLive(checkWith(), key)).toBe(false);
  });

  it("a legacy key (no tag) passes only when its hash is in the set of live legacy keys", async () => {
    const legacy = `${API_KEY_PREFIX}${"k".repeat(43)}`;
    expect(isLegacyKey(legacy)).toBe(true);
    expect(await mayBeLive(checkWith(), legacy)).toBe(false);
    expect(await mayBeLive(checkWith([await hashApiKey(legacy)]), legacy)).toBe(true);
    expect(await mayBeLive(checkWith([await hashApiKey("other")]), legacy)).toBe(false);
  });

  it("hashes as lowercase hex SHA-256", async () => {
    expect(await hashApiKey("abc")).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });
});
