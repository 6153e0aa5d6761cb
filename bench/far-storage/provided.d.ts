// What bench/far-storage/collector.ts hands to the run.
export {};

declare module "vitest" {
  export interface ProvidedContext {
    farStorage: import("./figures").FarStorageSettings;
  }
}
