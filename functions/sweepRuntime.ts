import { loadConfig, type StewardConfig } from "../shared/config/config.js";
import type { QUEUE_NAMES, TABLE_NAMES } from "../shared/config/settings.js";
import { assertAllowed, openRegistry, type Registry } from "../shared/registry/index.js";
import { openSweepStorage, type SweepStorage } from "../shared/sweep/services.js";

/**
 * The composition root of the sweep functions (timer fan-out and reconcile queue trigger):
 * configuration, sweep storage (inventory, marks, progress, queues), and registries opened on demand
 * for allow-listed login servers only. Built once per cold start; tests build their own.
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
  readonly openRegistry?: (loginServer: string, config: StewardConfig) => Promise<Registry>;
  readonly names?: {
    readonly tables?: Partial<Record<keyof typeof TABLE_NAMES, string>>;
    readonly queues?: Partial<Record<keyof typeof QUEUE_NAMES, string>>;
  };
  readonly now?: () => Date;
}

function openConfiguredRegistry(loginServer: string, config: StewardConfig): Promise<Registry> {
  return openRegistry({
    registry: loginServer,
    credentials: config.azureClientId
      ? { kind: "default", managedIdentityClientId: config.azureClientId }
      : { kind: "default" },
    allowList: config.registries,
    audience: config.acrAudience,
    actor: "acr-steward sweep (functions)",
  });
}

export async function buildSweepRuntime(
  config: StewardConfig,
  parts: SweepRuntimeParts = {},
): Promise<SweepRuntime> {
  const open = parts.openRegistry ?? openConfiguredRegistry;
  const opening = new Map<string, Promise<Registry>>();
  const opened = new Map<string, Registry>();
  const storage = await openSweepStorage({
    storage: config.storage,
    // The enricher reads digests the listing cannot describe from registries opened for the sweep.
    registries: (loginServer) => opened.get(loginServer.toLowerCase()),
    scanFreshnessMs: config.scanFreshnessMs,
    retentionDebounceMs: config.retentionDebounceMs,
    ...(parts.names === undefined ? {} : { names: parts.names }),
  });
  return {
    config,
    storage,
    now: parts.now ?? (() => new Date()),
    openRegistry(loginServer) {
      const key = loginServer.toLowerCase();
      assertAllowed(key, config.registries);
      let registry = opening.get(key);
      if (!registry) {
        registry = open(key, config).then((client) => {
          opened.set(key, client);
          return client;
        });
        opening.set(key, registry);
        registry.catch(() => opening.delete(key));
      }
      return registry;
    },
  };
}

let runtime: Promise<SweepRuntime> | undefined;

/** The process-wide runtime, built on first use; a failed build is retried by the next invocation. */
export function sweepRuntime(): Promise<SweepRuntime> {
  runtime ??= Promise.resolve()
    .then(() => buildSweepRuntime(loadConfig(process.env)))
    .catch((error: unknown) => {
      runtime = undefined;
      throw error;
    });
  return runtime;
}
