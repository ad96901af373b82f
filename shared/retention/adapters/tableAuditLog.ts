import type { TableClient } from "@azure/data-tables";
import { auditDayKey } from "../../inventory/keys.js";
import { eventTimeOrder } from "../../inventory/model.js";
import { translateStorageError } from "../../inventory/storageErrors.js";
import { createTableIfMissing } from "../../inventory/tableClients.js";
import type { AuditLog, AuditRow } from "../ports.js";

/**
 * Retention's audit rows in the shared `audit` table, next to the inventory's rows:
 * PartitionKey = UTC day of the action, RowKey = `<time order>~retention~<row id>` (sorted by time,
 * unique per run and action). `category: "retention"` tells them from registry-event rows.
 * Writes are upserts of the row's own key, so a retried append cannot duplicate a row.
 */
export const RETENTION_AUDIT_CATEGORY = "retention";

const MAX_TEXT = 4_000;

export function retentionAuditKey(row: Pick<AuditRow, "at" | "id">): {
  partitionKey: string;
  rowKey: string;
} {
  return {
    partitionKey: auditDayKey(row.at),
    rowKey: `${eventTimeOrder(row.at)}~${RETENTION_AUDIT_CATEGORY}~${row.id}`,
  };
}

export class TableRetentionAuditLog implements AuditLog {
  readonly #client: TableClient;

  constructor(client: TableClient) {
    this.#client = client;
  }

  async ensureTable(): Promise<void> {
    await createTableIfMissing(this.#client).catch((error: unknown) => {
      throw translateStorageError(error, "create table audit");
    });
  }

  async append(row: AuditRow): Promise<void> {
    const entity = {
      ...retentionAuditKey(row),
      category: RETENTION_AUDIT_CATEGORY,
      runId: row.runId,
      at: row.at,
      registry: row.registry,
      repository: row.repository,
      digest: row.digest,
      ...(row.tag === undefined ? {} : { tag: row.tag }),
      action: row.action,
      ...(row.ruleId === null ? {} : { ruleId: row.ruleId }),
      reason: row.reason.slice(0, MAX_TEXT),
      actor: row.actor,
      dryRun: row.dryRun,
      outcome: row.outcome,
      ...(row.error === undefined ? {} : { error: row.error.slice(0, MAX_TEXT) }),
    };
    try {
      await this.#client.upsertEntity(entity, "Replace");
    } catch (error) {
      throw translateStorageError(error, "write retention audit row");
    }
  }
}
