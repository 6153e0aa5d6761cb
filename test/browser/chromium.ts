import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Debian's Chromium, which `.ci/run` installs (playwright's own download cannot run here). */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Whether a browser test skips: a developer without Chromium gets a skip and a line saying why;
 * CI must run these tests, so there they fail instead.
 */
export function skipWithoutChromium(what: string): boolean {
  const skip = !existsSync(CHROMIUM) && !process.env.CI;
  if (skip) {
    process.stderr.write(`Skipping ${what}: ${CHROMIUM} is missing (apt-get install chromium)\n`);
  }
  return skip;
}

/**
 * Headless Chromium with a profile of its own, started with the flags this machine's closed
 * network needs (no background connections, no QUIC). `close` ends it and deletes the profile.
 */
export async function launchChromium(options: {
  viewport: { width: number; height: number };
  timezoneId?: string;
}): Promise<{ browser: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: .ci/run installs it in CI`);
  const userDataDir = mkdtempSync(join(tmpdir(), "waveline-chromium-"));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    ...options,
  });
  return {
    browser,
    async close() {
      await browser.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
