/**
 * Every setting acr-steward reads, in one place. `local.settings.sample.json`, the Bicep app
 * settings in `infra/` and docs/operations.md are checked against this list by tests, so a new
 * setting is added here first.
 *
 * Storage connections follow the Azure Functions convention: locally a connection string under the
 * plain name; in Azure, identity-based settings under `<NAME>__...` (`__queueServiceUri`,
 * `__tableServiceUri`, `__blobServiceUri`, `__credential`, `__clientId`).
 */

export interface SettingDescription {
  readonly name: string;
  readonly description: string;
  /** Who reads it: the function app, the scan worker, or both. */
  readonly readBy: readonly ("functions" | "scanner")[];
  /** Default used when unset; undefined means required (or optional without default, see `optional`). */
  readonly defaultValue?: string;
  readonly optional?: boolean;
  /** A secret: never logged or stored; in Azure set from Key Vault, never in templates. */
  readonly secret?: boolean;
}

/** Name of the storage connection used by queue triggers and by our own table/queue/blob clients. */
export const STORAGE_CONNECTION = "ACR_STEWARD_STORAGE";

export const QUEUE_NAMES = {
  registryEvents: "registry-events",
  scanRequests: "scan-requests",
  retentionRequests: "retention-requests",
  reconcileRequests: "reconcile-requests",
} as const;

export const TABLE_NAMES = {
  manifests: "manifests",
  tags: "tags",
  scans: "scans",
  audit: "audit",
  /** Debounce marks, leases and sweep progress. */
  coordination: "coordination",
} as const;

export const BLOB_CONTAINERS = {
  /** Gzipped Trivy reports, one blob per scan. */
  scanReports: "scan-reports",
  /** Event Grid dead-letter destination for the registry-events subscription. */
  eventsDeadLetter: "registry-events-deadletter",
} as const;

export const SETTINGS: readonly SettingDescription[] = [
  {
    name: "ACR_STEWARD_REGISTRIES",
    description: "Comma-separated allow-list of registry login servers (e.g. myregistry.azurecr.io).",
    readBy: ["functions", "scanner"],
  },
  {
    name: STORAGE_CONNECTION,
    description:
      "Storage for inventory tables, work queues and scan reports: a connection string locally, or the identity-based ACR_STEWARD_STORAGE__queueServiceUri/__tableServiceUri/__blobServiceUri/__credential/__clientId settings in Azure.",
    readBy: ["functions", "scanner"],
  },
  {
    name: "AZURE_CLIENT_ID",
    description: "Client id of the user-assigned managed identity used for the registry and storage.",
    readBy: ["functions", "scanner"],
    optional: true,
  },
  {
    name: "ACR_STEWARD_ACR_AUDIENCE",
    description: "Entra audience for registry tokens (sovereign clouds).",
    readBy: ["functions", "scanner"],
    defaultValue: "https://containerregistry.azure.net",
  },
  {
    name: "ACR_STEWARD_UNKNOWN_EVENTS",
    description:
      "What to do with event types acr-steward does not handle: 'skip' (log and drop) or 'reject'.",
    readBy: ["functions"],
    defaultValue: "skip",
  },
  {
    name: "ACR_STEWARD_WEBHOOK_SECRET",
    description:
      "Shared secret that ACR native webhooks must send in the X-Acr-Steward-Secret header; webhooks are refused while unset.",
    readBy: ["functions"],
    optional: true,
    secret: true,
  },
  {
    name: "ACR_STEWARD_SCAN_FRESHNESS",
    description: "A digest scanned within this duration is not scanned again (e.g. 7d).",
    readBy: ["functions", "scanner"],
    defaultValue: "7d",
  },
  {
    name: "ACR_STEWARD_RETENTION_DEBOUNCE",
    description: "At most one pending retention request per repository within this duration.",
    readBy: ["functions"],
    defaultValue: "10m",
  },
  {
    name: "ACR_STEWARD_RETENTION_POLICY",
    description: "The retention policy (YAML or JSON text). Without it, retention plans nothing.",
    readBy: ["functions"],
    optional: true,
  },
  {
    name: "ACR_STEWARD_RETENTION_ENFORCE",
    description: "'true' lets retention delete; anything else forces dry run everywhere (the kill switch).",
    readBy: ["functions"],
    defaultValue: "false",
  },
  {
    name: "ACR_STEWARD_DELETE_CAP_PER_REPOSITORY",
    description: "Most manifests one retention run may delete in one repository.",
    readBy: ["functions"],
    defaultValue: "100",
  },
  {
    name: "ACR_STEWARD_DELETE_CAP_GLOBAL",
    description: "Most manifests one retention run may delete in total.",
    readBy: ["functions"],
    defaultValue: "1000",
  },
  {
    name: "ACR_STEWARD_SWEEP_SCHEDULE",
    description: "NCRONTAB schedule of the reconciliation sweep (six fields).",
    readBy: ["functions"],
    defaultValue: "0 0 3 * * *",
  },
  {
    name: "ACR_STEWARD_SCAN_EVENTS_ENDPOINT",
    description: "Event Grid custom topic endpoint for ScanCompleted events (optional).",
    readBy: ["scanner"],
    optional: true,
  },
  {
    name: "ACR_STEWARD_TRIVY_DB_REPOSITORY",
    description: "OCI repository of the Trivy vulnerability DB (mirror it to avoid rate limits).",
    readBy: ["scanner"],
    defaultValue: "mirror.gcr.io/aquasec/trivy-db:2",
  },
  {
    name: "ACR_STEWARD_TRIVY_TIMEOUT",
    description: "Timeout of one Trivy scan (e.g. 15m).",
    readBy: ["scanner"],
    defaultValue: "15m",
  },
  {
    name: "APPLICATIONINSIGHTS_CONNECTION_STRING",
    description: "Application Insights connection string (set by the platform).",
    readBy: ["functions", "scanner"],
    optional: true,
  },
];
