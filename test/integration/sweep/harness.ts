import type { EmulatorOptions } from "../../../emulator/index.js";
import type { StorageCallObserver } from "../../../shared/inventory/storageErrors.js";
import { openRegistry } from "../../../shared/registry/openRegistry.js";
import type { Registry } from "../../../shared/registry/registry.js";
import type { ReconcileDependencies } from "../../../shared/sweep/reconcileRepository.js";
import { openSweepStorage, type SweepStorage } from "../../../shared/sweep/services.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { uniqueName } from "../../helpers/storage.js";

/** An emulator, the real ACR adapter on it, and sweep storage on tables and queues of its own. */
export interface SweepHarness {
  readonly env: TestEmulator;
  readonly registry: Registry;
  readonly storage: SweepStorage;
  readonly dependencies: ReconcileDependencies;
  readonly names: { tables: Record<string, string>; queues: Record<string, string> };
}

export async function createSweepHarness(
  connectionString: string,
  emulatorOptions: EmulatorOptions,
  options: { onStorageCall?: StorageCallObserver; registry?: (registry: Registry) => Registry } = {},
): Promise<SweepHarness> {
  const env = await startTestEmulator(emulatorOptions);
  const real = await openRegistry({
    registry: env.loginServer,
    credentials: { kind: "token", credential: env.credential },
    allowList: [env.loginServer],
    caCertPem: env.emulator.caCert,
    retryPolicy: { baseDelayMs: 5, maxDelayMs: 50 },
  });
  const registry = options.registry ? options.registry(real) : real;
  const names = {
    tables: {
      manifests: uniqueName("swm"),
      tags: uniqueName("swt"),
      audit: uniqueName("swa"),
      coordination: uniqueName("swc"),
      scans: uniqueName("sws"),
    },
    queues: {
      scanRequests: uniqueName("swq-scan"),
      retentionRequests: uniqueName("swq-ret"),
      reconcileRequests: uniqueName("swq-rec"),
      registryEvents: uniqueName("swq-ev"),
    },
  };
  const storage = await openSweepStorage({
    storage: { kind: "connectionString", connectionString },
    registries: (server) => (server === registry.loginServer ? registry : undefined),
    scanFreshnessMs: 7 * 24 * 3600_000,
    retentionDebounceMs: 60_000,
    names,
    ...(options.onStorageCall ? { onStorageCall: options.onStorageCall } : {}),
  });
  return {
    env,
    registry,
    storage,
    names,
    dependencies: {
      registry,
      inventory: storage.inventory,
      enricher: storage.enricher,
      tagRemovals: storage.tagRemovals,
      followUp: storage.followUp,
      progress: storage.progress,
      now: () => new Date(),
    },
  };
}

export interface ManifestTruth {
  readonly repository: string;
  readonly digest: string;
  readonly tags: readonly string[];
}

const byKey = (a: ManifestTruth, b: ManifestTruth) =>
  `${a.repository}@${a.digest}` < `${b.repository}@${b.digest}` ? -1 : 1;

/** The registry's truth from a fresh listing. */
export async function registryTruth(registry: Registry): Promise<ManifestTruth[]> {
  const truth: ManifestTruth[] = [];
  for await (const repository of registry.listRepositories())
    for await (const manifest of registry.listManifests(repository))
      truth.push({ repository, digest: manifest.digest, tags: [...manifest.tags].sort() });
  return truth.sort(byKey);
}

/** What the inventory holds as present. */
export async function inventoryView(harness: SweepHarness): Promise<ManifestTruth[]> {
  const view: ManifestTruth[] = [];
  for await (const row of harness.storage.inventory.listImages({ registry: harness.registry.loginServer }))
    view.push({ repository: row.repository, digest: row.digest, tags: [...row.tags].sort() });
  return view.sort(byKey);
}
