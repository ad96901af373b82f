import { loadConfig, type StewardConfig } from "../shared/config/config.js";
import { TABLE_NAMES } from "../shared/config/settings.js";
import { ConfigurationError } from "../shared/errors/index.js";
import { createTableClient } from "../shared/inventory/tableClients.js";
import { assertAllowed, openRegistry, type Registry } from "../shared/registry/index.js";
import { TableRepositoryLeases, TableRetentionAuditLog } from "../shared/retention/adapters/index.js";
import type { RetentionCaps } from "../shared/retention/plan.js";
import { parseRetentionPolicy, type RetentionPolicy } from "../shared/retention/policy.js";
import type { AuditLog, Clock, RepositoryLeases } from "../shared/retention/ports.js";
import { systemClock } from "../shared/retention/ports.js";

/**
 * The composition root of the retention functions (queue trigger and HTTP preview): configuration,
 * the policy parsed once, audit and lease adapters on the storage account, and registries opened on
 * demand for allow-listed login servers only. Built once per cold start; tests build their own.
 */
export interface RetentionRuntime {
  readonly config: StewardConfig;
  /** Undefined when ACR_STEWARD_RETENTION_POLICY is not set: retention then plans nothing. */
  readonly policy: RetentionPolicy | undefined;
  readonly caps: RetentionCaps;
  readonly audit: AuditLog;
  readonly leases: RepositoryLeases;
  readonly clock: Clock;
  /** The registry for a login server of the allow-list. @throws ConfigurationError for any other host. */
  openRegistry(loginServer: string): Promise<Registry>;
}

export interface RetentionRuntimeParts {
  /** Opens a registry (tests: the emulator); the allow-list is checked before it is called. */
  readonly openRegistry?: (loginServer: string, config: StewardConfig) => Promise<Registry>;
  readonly tables?: { readonly audit?: string; readonly coordination?: string };
  readonly clock?: Clock;
}

function openConfiguredRegistry(loginServer: string, config: StewardConfig): Promise<Registry> {
  return openRegistry({
    registry: loginServer,
    credentials: config.azureClientId
      ? { kind: "default", managedIdentityClientId: config.azureClientId }
      : { kind: "default" },
    allowList: config.registries,
    audience: config.acrAudience,
    actor: "acr-steward retention (functions)",
  });
}

export async function buildRetentionRuntime(
  config: StewardConfig,
  parts: RetentionRuntimeParts = {},
): Promise<RetentionRuntime> {
  let policy: RetentionPolicy | undefined;
  if (config.retentionPolicy !== undefined) {
    try {
      policy = parseRetentionPolicy(config.retentionPolicy, "ACR_STEWARD_RETENTION_POLICY");
    } catch (cause) {
      throw new ConfigurationError((cause as Error).message, { cause });
    }
  }
  const tables = { ...TABLE_NAMES, ...parts.tables };
  const clock = parts.clock ?? systemClock;
  const audit = new TableRetentionAuditLog(createTableClient(config.storage, tables.audit));
  const leases = new TableRepositoryLeases(createTableClient(config.storage, tables.coordination), { clock });
  // Infrastructure creates the tables in Azure; creating them here keeps local runs self-contained.
  await Promise.all([audit.ensureTable(), leases.ensureTable()]);
  const open = parts.openRegistry ?? openConfiguredRegistry;
  const registries = new Map<string, Promise<Registry>>();
  return {
    config,
    policy,
    caps: { perRepository: config.deleteCapPerRepository, global: config.deleteCapGlobal },
    audit,
    leases,
    clock,
    openRegistry(loginServer) {
      const key = loginServer.toLowerCase();
      assertAllowed(key, config.registries);
      let registry = registries.get(key);
      if (!registry) {
        registry = open(key, config);
        registries.set(key, registry);
        registry.catch(() => registries.delete(key));
      }
      return registry;
    },
  };
}

let runtime: Promise<RetentionRuntime> | undefined;

/** The process-wide runtime, built on first use; a failed build is retried by the next invocation. */
export function retentionRuntime(): Promise<RetentionRuntime> {
  runtime ??= Promise.resolve()
    .then(() => buildRetentionRuntime(loadConfig(process.env)))
    .catch((error: unknown) => {
      runtime = undefined;
      throw error;
    });
  return runtime;
}
