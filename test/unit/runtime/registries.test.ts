import { describe, expect, it } from "vitest";
import { loadConfig } from "../../../shared/config/config.js";
import { ConfigurationError, UnavailableError } from "../../../shared/errors/index.js";
import { InMemoryRegistry } from "../../../shared/registry/index.js";
import { RegistryPool, registryCredentialsFor } from "../../../shared/runtime/index.js";

const CONNECTION = "UseDevelopmentStorage=true";
const REGISTRY = "contoso.azurecr.io";

function configWith(extra: Record<string, string>) {
  return loadConfig({ ACR_STEWARD_REGISTRIES: REGISTRY, ...extra });
}

describe("registryCredentialsFor", () => {
  it("uses DefaultAzureCredential with the user-assigned identity of AZURE_CLIENT_ID", () => {
    expect(registryCredentialsFor(configWith({ ACR_STEWARD_STORAGE: CONNECTION }))).toEqual({
      kind: "default",
    });
    expect(
      registryCredentialsFor(configWith({ ACR_STEWARD_STORAGE: CONNECTION, AZURE_CLIENT_ID: "client-1" })),
    ).toEqual({ kind: "default", managedIdentityClientId: "client-1" });
  });

  it("uses the managed identity when the storage connection says credential=managedidentity", () => {
    const identity = {
      ACR_STEWARD_STORAGE__queueServiceUri: "https://account.queue.core.windows.net",
      ACR_STEWARD_STORAGE__tableServiceUri: "https://account.table.core.windows.net",
      ACR_STEWARD_STORAGE__credential: "managedidentity",
    };
    expect(registryCredentialsFor(configWith(identity))).toEqual({ kind: "managed-identity" });
    expect(registryCredentialsFor(configWith({ ...identity, AZURE_CLIENT_ID: "client-2" }))).toEqual({
      kind: "managed-identity",
      clientId: "client-2",
    });
    expect(
      registryCredentialsFor(configWith({ ...identity, ACR_STEWARD_STORAGE__clientId: "storage-client" })),
    ).toEqual({ kind: "managed-identity", clientId: "storage-client" });
  });
});

describe("RegistryPool", () => {
  const config = configWith({ ACR_STEWARD_STORAGE: CONNECTION });

  it("opens each allow-listed registry once, whatever the case of its name", async () => {
    const opened: string[] = [];
    const pool = new RegistryPool(config, async (loginServer) => {
      opened.push(loginServer);
      return new InMemoryRegistry(loginServer);
    });
    const [first, second] = await Promise.all([pool.get(REGISTRY), pool.get("Contoso.AzureCR.io")]);
    expect(first).toBe(second);
    expect(opened).toEqual([REGISTRY]);
  });

  it("refuses hosts outside the allow-list without opening them", () => {
    let opens = 0;
    const pool = new RegistryPool(config, async () => {
      opens += 1;
      throw new Error("must not be called");
    });
    expect(() => pool.get("evil.example.com")).toThrow(ConfigurationError);
    expect(opens).toBe(0);
  });

  it("forgets a failed open, so the next call tries again", async () => {
    let opens = 0;
    const registry = new InMemoryRegistry(REGISTRY);
    const pool = new RegistryPool(config, async () => {
      opens += 1;
      if (opens === 1) throw new UnavailableError("registry unreachable");
      return registry;
    });
    await expect(pool.get(REGISTRY)).rejects.toBeInstanceOf(UnavailableError);
    await expect(pool.get(REGISTRY)).resolves.toBe(registry);
    expect(opens).toBe(2);
  });
});
