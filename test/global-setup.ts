import type { TestProject } from "vitest/node";
import { startFakeWaveline } from "../dev/fake-waveline";
import { TEST_WAVELINE_KEY } from "./constants";

/** One fake Waveline for the whole run; tests keep apart by using their own job ids. */
export default async function setup(project: TestProject) {
  const fake = await startFakeWaveline({ apiKey: TEST_WAVELINE_KEY, port: 0, quiet: true });
  project.provide("wavelineOrigin", fake.origin);
  project.provide("wavelineBaseUrl", fake.baseUrl);
  return () => fake.close();
}
