import type { TestProject } from "vitest/node";
import { startFakeWaveline } from "../dev/fake-waveline";
import { startWebhookReceiver } from "../dev/webhook-receiver";
import { TEST_WAVELINE_KEY } from "./constants";

/**
 * One fake Waveline for the whole run; tests keep apart by using their own job ids. Faults on the
 * creation routes cannot be kept apart that way (every creation calls the same path), so tests
 * that need an upstream nobody injects faults into get a second fake.
 */
export default async function setup(project: TestProject) {
  const options = { apiKey: TEST_WAVELINE_KEY, port: 0, quiet: true };
  const fake = await startFakeWaveline(options);
  const healthy = await startFakeWaveline(options);
  const receiver = await startWebhookReceiver();
  project.provide("webhookReceiverOrigin", receiver.origin);
  project.provide("wavelineOrigin", fake.origin);
  project.provide("wavelineBaseUrl", fake.baseUrl);
  project.provide("healthyWavelineOrigin", healthy.origin);
  project.provide("healthyWavelineBaseUrl", healthy.baseUrl);
  return async () => {
    await Promise.all([fake.close(), healthy.close(), receiver.close()]);
  };
}
