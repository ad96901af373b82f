import { QueueClient } from "@azure/storage-queue";
import { type StorageConnection, storageCredential } from "../config/config.js";

/** A client for one queue of our storage account, from the validated storage connection. */
export function createQueueClient(storage: StorageConnection, queueName: string): QueueClient {
  if (storage.kind === "connectionString") return new QueueClient(storage.connectionString, queueName);
  return new QueueClient(
    `${storage.queueServiceUri.replace(/\/+$/, "")}/${queueName}`,
    storageCredential(storage),
  );
}
