import { readFileSync } from "node:fs";
import { DefaultAzureCredential, ManagedIdentityCredential } from "@azure/identity";
import { describe, expect, it } from "vitest";
import { loadConfig, parseDuration, storageCredential } from "../../../shared/config/config.js";
import { SETTINGS } from "../../../shared/config/settings.js";
import { ConfigurationError } from "../../../shared/errors/index.js";

const MINIMAL = {
  ACR_STEWARD_REGISTRIES: "MyRegistry.azurecr.io, other.azurecr.io,myregistry.azurecr.io",
  ACR_STEWARD_STORAGE: "UseDevelopmentStorage=true",
};

function configError(environment: Record<string, string>): ConfigurationError {
  try {
    loadConfig(environment);
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error("expected a ConfigurationError");
}

describe("parseDuration", () => {
  it.each([
    ["7d", 7 * 86_400_000],
    ["10m", 600_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["45s", 45_000],
  ])("reads %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "7", "d7", "7 days", "1.5h", "-1m"])("refuses %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("loadConfig", () => {
  it("applies the documented defaults and parses the allow-list", () => {
    const config = loadConfig(MINIMAL);
    expect(config.registries).toEqual(["myregistry.azurecr.io", "other.azurecr.io"]);
    expect(config.storage).toEqual({
      kind: "connectionString",
      connectionString: "UseDevelopmentStorage=true",
    });
    expect(config.scanFreshnessMs).toBe(7 * 86_400_000);
    expect(config.retentionDebounceMs).toBe(600_000);
    expect(config.unknownEvents).toBe("skip");
    expect(config.retentionEnforce).toBe(false);
    expect(config.deleteCapPerRepository).toBe(100);
    expect(config.deleteCapGlobal).toBe(1000);
    expect(config.trivyTimeoutMs).toBe(15 * 60_000);
    expect(config.webhookSecret).toBeUndefined();
  });

  it("uses every default the settings list documents", () => {
    const environment: Record<string, string> = { ...MINIMAL };
    for (const setting of SETTINGS) {
      if (setting.defaultValue !== undefined) environment[setting.name] = setting.defaultValue;
    }
    expect(loadConfig(environment)).toEqual(loadConfig(MINIMAL));
  });

  it("accepts the sample local.settings.json as it is", () => {
    const sample = JSON.parse(readFileSync("local.settings.sample.json", "utf8")) as {
      Values: Record<string, string>;
    };
    const config = loadConfig(sample.Values);
    expect(config.storage.kind).toBe("connectionString");
    expect(config.registries.length).toBeGreaterThan(0);
  });

  it("uses AZURE_CLIENT_ID for identity-based storage that names no client id of its own", () => {
    const config = loadConfig({
      ACR_STEWARD_REGISTRIES: "r.azurecr.io",
      AZURE_CLIENT_ID: "00000000-0000-0000-0000-000000000002",
      ACR_STEWARD_STORAGE__queueServiceUri: "https://acct.queue.core.windows.net",
      ACR_STEWARD_STORAGE__tableServiceUri: "https://acct.table.core.windows.net",
      ACR_STEWARD_STORAGE__credential: "managedidentity",
    });
    expect(config.storage).toMatchObject({ clientId: "00000000-0000-0000-0000-000000000002" });
  });

  it("returns a frozen object", () => {
    const config = loadConfig(MINIMAL);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.registries)).toBe(true);
  });

  it("treats empty values as unset, like the sample local.settings.json", () => {
    const config = loadConfig({
      ...MINIMAL,
      ACR_STEWARD_WEBHOOK_SECRET: "",
      ACR_STEWARD_SCAN_FRESHNESS: " ",
    });
    expect(config.webhookSecret).toBeUndefined();
    expect(config.scanFreshnessMs).toBe(7 * 86_400_000);
  });

  it("names every missing setting at once", () => {
    const error = configError({});
    expect(error.message).toContain("ACR_STEWARD_REGISTRIES is missing");
    expect(error.message).toContain("ACR_STEWARD_STORAGE is missing");
  });

  it("names a bad setting with its value and what is expected", () => {
    const error = configError({ ...MINIMAL, ACR_STEWARD_RETENTION_DEBOUNCE: "ten minutes" });
    expect(error.message).toMatch(/ACR_STEWARD_RETENTION_DEBOUNCE is invalid \('ten minutes'\).*duration/);
    expect(configError({ ...MINIMAL, ACR_STEWARD_REGISTRIES: "bad host!" }).message).toContain(
      "ACR_STEWARD_REGISTRIES is invalid",
    );
    expect(configError({ ...MINIMAL, ACR_STEWARD_UNKNOWN_EVENTS: "drop" }).message).toContain(
      "must be 'skip' or 'reject'",
    );
    expect(configError({ ...MINIMAL, ACR_STEWARD_DELETE_CAP_GLOBAL: "0" }).message).toContain(
      "ACR_STEWARD_DELETE_CAP_GLOBAL",
    );
    expect(configError({ ...MINIMAL, ACR_STEWARD_SWEEP_SCHEDULE: "0 3 * * *" }).message).toContain(
      "six-field",
    );
  });

  it("never shows the value of a secret setting", () => {
    const error = configError({ ...MINIMAL, ACR_STEWARD_WEBHOOK_SECRET: "short-secret" });
    expect(error.message).toContain("ACR_STEWARD_WEBHOOK_SECRET is invalid");
    expect(error.message).not.toContain("short-secret");
  });

  it("prefers identity-based storage settings and builds a managed identity credential", () => {
    const config = loadConfig({
      ACR_STEWARD_REGISTRIES: "r.azurecr.io",
      ACR_STEWARD_STORAGE__queueServiceUri: "https://acct.queue.core.windows.net",
      ACR_STEWARD_STORAGE__tableServiceUri: "https://acct.table.core.windows.net",
      ACR_STEWARD_STORAGE__blobServiceUri: "https://acct.blob.core.windows.net",
      ACR_STEWARD_STORAGE__credential: "managedidentity",
      ACR_STEWARD_STORAGE__clientId: "00000000-0000-0000-0000-000000000001",
    });
    expect(config.storage).toMatchObject({ kind: "identity", credential: "managedidentity" });
    if (config.storage.kind !== "identity") throw new Error("identity storage expected");
    expect(storageCredential(config.storage)).toBeInstanceOf(ManagedIdentityCredential);
    expect(storageCredential({ ...config.storage, credential: undefined })).toBeInstanceOf(
      DefaultAzureCredential,
    );
  });

  it("names the missing part of an identity-based storage connection", () => {
    const error = configError({
      ACR_STEWARD_REGISTRIES: "r.azurecr.io",
      ACR_STEWARD_STORAGE__queueServiceUri: "https://acct.queue.core.windows.net",
    });
    expect(error.message).toContain("ACR_STEWARD_STORAGE__tableServiceUri is missing");
  });
});
