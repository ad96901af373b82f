import type { StewardConfig } from "../config/config.js";
import type { QUEUE_NAMES, TABLE_NAMES } from "../config/settings.js";
import type { Registry } from "../registry/index.js";
import { openSweepStorage, type SweepStorage } from "../sweep/services.js";
import { configuredRegistryOpener, type RegistryOpener, RegistryPool } from "./registries.js";

/**
 * What the sweep functions (timer fan-out and reconcile queue trigger) run on: configuration, sweep
 * storage (inventory, marks, progress, queues), and registries opened on demand for allow-listed
 * login servers only, with the app's identity (see registries.ts).
 */
export interface SweepRuntime {
  readonly config: StewardConfig;
  readonly storage: SweepStorage;
  /** The registry for a login server of the allow-list. @throws ConfigurationError for any other host. */
  openRegistry(loginServer: string): Promise<Registry>;
  readonly now: () => Date;
}

export interface SweepRuntimeParts {
  /** Opens a registry (tests: the emulator); the allow-list is checked before it is called. */
  readonly openRegistry?: RegistryOpener;
  readonly names?: {
    readonly tables?: Partial<Record<keyof typeof TABLE_NAMES, string>>;
    readonly queues?: Partial<Record<keyof typeof QUEUE_NAMES, string>>;
  };
  readonly now?: () => Date;
}

export async function buildSweepRuntime(
  config: StewardConfig,
  parts: SweepRuntimeParts = {},
): Promise<SweepRuntime> {
  const pool = new RegistryPool(
    config,
    parts.openRegistry ?? configuredRegistryOpener("acr-steward sweep (functions)"),
  );
  // The enricher reads digests the listing cannot describe, from registries the sweep already opened.
  const opened = new Map<string, Registry>();
  const storage = await openSweepStorage({
    storage: config.storage,
    registries: (loginServer) => opened.get(loginServer.toLowerCase()),
    scanFreshnessMs: config.scanFreshnessMs,
    retentionDebounceMs: config.retentionDebounceMs,
    ...(parts.names === undefined ? {} : { names: parts.names }),
  });
  return {
    config,
    storage,
    now: parts.now ?? (() => new Date()),
    async openRegistry(loginServer) {
      const registry = await pool.get(loginServer);
      opened.set(loginServer.toLowerCase(), registry);
      return registry;
    },
  };
}
