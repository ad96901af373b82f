import type { StewardConfig } from "../config/config.js";
import { TABLE_NAMES } from "../config/settings.js";
import { ConfigurationError } from "../errors/index.js";
import { createTableClient } from "../inventory/tableClients.js";
import type { Registry } from "../registry/index.js";
import { TableRepositoryLeases, TableRetentionAuditLog } from "../retention/adapters/index.js";
import type { RetentionCaps } from "../retention/plan.js";
import { parseRetentionPolicy, type RetentionPolicy } from "../retention/policy.js";
import type { AuditLog, Clock, RepositoryLeases } from "../retention/ports.js";
import { systemClock } from "../retention/ports.js";
import { configuredRegistryOpener, type RegistryOpener, RegistryPool } from "./registries.js";

/**
 * The retention path's adapters (queue trigger and HTTP preview): configuration, the policy parsed
 * once, audit and lease adapters on the storage account, and registries opened on demand for
 * allow-listed login servers only. The functions build it once per cold start; tests build their own.
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
  readonly openRegistry?: RegistryOpener;
  readonly tables?: { readonly audit?: string; readonly coordination?: string };
  readonly clock?: Clock;
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
  const registries = new RegistryPool(
    config,
    parts.openRegistry ?? configuredRegistryOpener("acr-steward retention (functions)"),
  );
  return {
    config,
    policy,
    caps: { perRepository: config.deleteCapPerRepository, global: config.deleteCapGlobal },
    audit,
    leases,
    clock,
    openRegistry: (loginServer) => registries.get(loginServer),
  };
}
