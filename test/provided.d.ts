// What test/global-setup.ts hands to the tests.
export {};

declare module "vitest" {
  export interface ProvidedContext {
    wavelineOrigin: string;
    wavelineBaseUrl: string;
    healthyWavelineOrigin: string;
    healthyWavelineBaseUrl: string;
    webhookReceiverOrigin: string;
  }
}
