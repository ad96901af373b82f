import type { StewardConfig } from "../config/config.js";
import {
  assertAllowed,
  type OpenRegistryOptions,
  openRegistry,
  type Registry,
  type RegistryCredentials,
} from "../registry/index.js";

/**
 * Registries as the deployed app reaches them: allow-listed login servers only, the app's identity,
 * the configured token audience. Opened on first use and kept per login server, so one process
 * builds one client (and one token cache) per registry.
 */

/** Opens the registry of an allow-listed login server (the allow-list is checked before it is called). */
export type RegistryOpener = (loginServer: string, config: StewardConfig) => Promise<Registry>;

/**
 * The app's identity for registries, the same one the storage connection uses: the managed identity
 * when the connection says `credential: managedidentity`, else DefaultAzureCredential, with the
 * user-assigned identity of AZURE_CLIENT_ID (or the connection's own `clientId`) when there is one.
 */
export function registryCredentialsFor(config: StewardConfig): RegistryCredentials {
  const storageClientId = config.storage.kind === "identity" ? config.storage.clientId : undefined;
  const clientId = config.azureClientId ?? storageClientId;
  if (config.storage.kind === "identity" && config.storage.credential === "managedidentity") {
    return clientId === undefined ? { kind: "managed-identity" } : { kind: "managed-identity", clientId };
  }
  return clientId === undefined
    ? { kind: "default" }
    : { kind: "default", managedIdentityClientId: clientId };
}

/** What tests (and callers with their own trust or retry needs) change about how registries are opened. */
export type RegistryAccessOverrides = Partial<
  Pick<OpenRegistryOptions, "credentials" | "caCertPem" | "retryPolicy" | "audit" | "telemetry">
>;

/** An opener over `openRegistry` with the configuration's allow-list, identity and audience. */
export function configuredRegistryOpener(
  actor: string,
  overrides: RegistryAccessOverrides = {},
): RegistryOpener {
  return (loginServer, config) =>
    openRegistry({
      registry: loginServer,
      credentials: registryCredentialsFor(config),
      allowList: config.registries,
      audience: config.acrAudience,
      actor,
      ...overrides,
    });
}

/** Registries opened lazily and cached per login server; a failed open is forgotten so the next call retries. */
export class RegistryPool {
  readonly #config: StewardConfig;
  readonly #open: RegistryOpener;
  readonly #opening = new Map<string, Promise<Registry>>();

  constructor(config: StewardConfig, open: RegistryOpener) {
    this.#config = config;
    this.#open = open;
  }

  /** The registry for a login server of the allow-list. @throws ConfigurationError for any other host. */
  get(loginServer: string): Promise<Registry> {
    const key = loginServer.toLowerCase();
    assertAllowed(key, this.#config.registries);
    let registry = this.#opening.get(key);
    if (registry === undefined) {
      registry = this.#open(key, this.#config);
      this.#opening.set(key, registry);
      registry.catch(() => {
        if (this.#opening.get(key) === registry) this.#opening.delete(key);
      });
    }
    return registry;
  }
}
