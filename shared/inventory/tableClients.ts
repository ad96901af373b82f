import { TableClient } from "@azure/data-tables";
import { type StorageConnection, storageCredential } from "../config/config.js";
import { storageStatus } from "./storageErrors.js";

/** A client for one table of our storage account, from the validated storage connection. */
export function createTableClient(storage: StorageConnection, tableName: string): TableClient {
  if (storage.kind === "connectionString") {
    // Local development and tests use Azurite over plain http.
    return TableClient.fromConnectionString(storage.connectionString, tableName, {
      allowInsecureConnection: storage.connectionString.includes("http://") || isDevelopmentStorage(storage),
    });
  }
  return new TableClient(storage.tableServiceUri, tableName, storageCredential(storage));
}

function isDevelopmentStorage(storage: Extract<StorageConnection, { kind: "connectionString" }>): boolean {
  return /UseDevelopmentStorage=true/i.test(storage.connectionString);
}

/** Creates the table unless it exists already (409); any other failure is thrown as it came. */
export async function createTableIfMissing(client: TableClient): Promise<void> {
  try {
    await client.createTable();
  } catch (error) {
    if (storageStatus(error) !== 409) throw error;
  }
}
