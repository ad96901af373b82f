import type { TokenCredential } from "@azure/core-auth";
import { type RunningEmulator, startEmulator } from "../emulator/index.js";
import { InMemoryAuditSink } from "../shared/registry/audit.js";
import { openRegistry } from "../shared/registry/openRegistry.js";
import type { Registry } from "../shared/registry/registry.js";

/**
 * The embedded defaults: what `acr-steward` runs on when nothing is configured, so that the first
 * command works on a fresh machine after `npm ci` with no network and nothing else installed.
 *
 * - storage: the embedded store (cli/embeddedStorage.ts: Azurite inside this process), in memory
 *   for the demo, or with its data in `.acr-steward/azurite/` of the current directory so that a
 *   real registry's inventory and sweep progress survive between runs;
 * - registry: the built-in ACR emulator with the `demo` seed (below), on a free loopback port, over
 *   HTTPS with a throw-away CA that only this process trusts.
 */
export { startEmbeddedStorage } from "./embeddedStorage.js";

export interface DemoRegistry {
  readonly emulator: RunningEmulator;
  readonly registry: Registry;
  close(): Promise<void>;
}

/** The emulator accepts any Entra token; this fixed one never leaves the process. */
const demoCredential: TokenCredential = {
  getToken: async () => ({ token: "acr-steward-demo", expiresOnTimestamp: Date.now() + 3_600_000 }),
};

/** The built-in ACR emulator with the `demo` seed, opened through the real ACR adapter. */
export async function startDemoRegistry(): Promise<DemoRegistry> {
  const emulator = await startEmulator({ seed: { kind: "demo" } });
  try {
    const registry = await openRegistry({
      registry: emulator.loginServer,
      credentials: { kind: "token", credential: demoCredential },
      allowList: [emulator.loginServer],
      caCertPem: emulator.caCert,
      kind: "acr",
      actor: "acr-steward demo",
      // The demo registry is thrown away with the process; its audit lines would only be noise.
      audit: new InMemoryAuditSink(),
    });
    return { emulator, registry, close: () => emulator.close() };
  } catch (error) {
    await emulator.close();
    throw error;
  }
}
