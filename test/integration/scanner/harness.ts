import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { TableClient } from "@azure/data-tables";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";
import { jsonLinesLogger } from "../../../scanner/logger.js";
import { ScanWorker, type ScanWorkerDependencies, type ScanWorkerSettings } from "../../../scanner/worker.js";
import { encodeQueueMessage } from "../../../shared/queues/codec.js";
import { type ScanRequest, ScanRequestSchema } from "../../../shared/queues/messages.js";
import type { ScanCredentialsProvider } from "../../../shared/scanning/ports.js";
import { acrRefreshTokenCredentials, type RegistryCredentials } from "../../../shared/scanning/scanRunner.js";
import { BlobReportArchive } from "../../../shared/scanning/store/blobReportArchive.js";
import { StorageScanRequestQueue } from "../../../shared/scanning/store/scanRequestQueue.js";
import { TableScanStore } from "../../../shared/scanning/store/tableScanStore.js";
import { TrivyRunner } from "../../../shared/scanning/trivyRunner.js";
import { FAKE_TRIVY_PATH } from "../../helpers/fake-trivy/index.js";
import { uniqueName } from "../../helpers/storage.js";

/** Real Azurite queues, table and container per test, the stand-in trivy, and a worker factory. */

export const REGISTRY = "stewardtest.azurecr.io";
/** JWT-shaped, like an ACR refresh token; must never reach a log, a row or a blob. */
export const TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJzY2FubmVyLXRlc3QifQ.c2Nhbm5lci1zZWNyZXQtc2lnbmF0dXJl";

export function digestOf(n: number): string {
  return `sha256:${n.toString(16).padStart(64, "0")}`;
}

export class FixedTokenProvider implements ScanCredentialsProvider {
  calls: { registry: string; repository: string }[] = [];
  constructor(private readonly token = TOKEN) {}
  async credentialsFor(registry: string, repository: string): Promise<RegistryCredentials> {
    this.calls.push({ registry, repository });
    return acrRefreshTokenCredentials(this.token);
  }
}

export interface Harness {
  readonly requests: QueueClient;
  readonly poisonQueue: QueueClient;
  readonly queue: StorageScanRequestQueue;
  readonly store: TableScanStore;
  readonly archive: BlobReportArchive;
  readonly container: ContainerClient;
  readonly table: TableClient;
  readonly logLines: string[];
  readonly credentials: FixedTokenProvider;
  readonly cacheDir: string;
  send(request: Partial<ScanRequest> & { repository: string; digest: string }): Promise<void>;
  runner(extraEnv?: Record<string, string>): TrivyRunner;
  worker(
    settings?: Partial<ScanWorkerSettings>,
    overrides?: Partial<ScanWorkerDependencies> & { trivyEnv?: Record<string, string> },
  ): ScanWorker;
  close(): Promise<void>;
}

export async function createHarness(connectionString: string): Promise<Harness> {
  const queueName = uniqueName("scanreq");
  const requests = new QueueClient(connectionString, queueName);
  const poisonQueue = new QueueClient(connectionString, `${queueName}-poison`);
  const table = TableClient.fromConnectionString(connectionString, uniqueName("scans"), {
    allowInsecureConnection: true,
  });
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(
    uniqueName("reports"),
  );
  const queue = new StorageScanRequestQueue(requests, poisonQueue);
  const store = new TableScanStore(table);
  const archive = new BlobReportArchive(container);
  await Promise.all([queue.ensureQueues(), store.ensureTable(), archive.ensureContainer()]);
  const root = await mkdtemp(path.join(tmpdir(), "acr-steward-scanner-"));
  const cacheDir = path.join(root, "cache");
  const logLines: string[] = [];
  const credentials = new FixedTokenProvider();

  const runner = (extraEnv: Record<string, string> = {}) =>
    new TrivyRunner({ trivyPath: FAKE_TRIVY_PATH, cacheDir, workDir: root, extraEnv });

  return {
    requests,
    poisonQueue,
    queue,
    store,
    archive,
    container,
    table,
    logLines,
    credentials,
    cacheDir,
    async send(request) {
      await requests.sendMessage(
        encodeQueueMessage(ScanRequestSchema, {
          version: 1,
          registry: REGISTRY,
          reason: "push",
          requestedAt: new Date().toISOString(),
          ...request,
        }),
      );
    },
    runner,
    worker(settings = {}, overrides = {}) {
      const { trivyEnv, ...deps } = overrides;
      const trivy = runner(trivyEnv);
      return new ScanWorker(
        {
          queue,
          runner: trivy,
          refresher: trivy,
          credentials,
          store,
          archive,
          logger: jsonLinesLogger((line) => logLines.push(line)),
          ...deps,
        },
        {
          allowList: [REGISTRY],
          freshnessMs: 7 * 86_400_000,
          scanTimeoutMs: 20_000,
          visibilityTimeoutMs: 30_000,
          retryBaseMs: 0,
          databaseRefresh: { dbRepository: "mirror.example.test/trivy-db:2", includeJavaDb: false },
          ...settings,
        },
      );
    },
    async close() {
      await Promise.allSettled([
        requests.deleteIfExists(),
        poisonQueue.deleteIfExists(),
        table.deleteTable(),
        container.deleteIfExists(),
      ]);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Every byte stored for this test: table entities and the gunzipped blobs. */
export async function storedText(harness: Harness): Promise<string> {
  const parts: string[] = [];
  for await (const entity of harness.table.listEntities()) parts.push(JSON.stringify(entity));
  for await (const blob of harness.container.listBlobsFlat({ includeMetadata: true })) {
    parts.push(JSON.stringify(blob.metadata ?? {}));
    parts.push(await harness.archive.readReport(blob.name));
  }
  for (const queue of [harness.requests, harness.poisonQueue]) {
    const peeked = await queue.peekMessages({ numberOfMessages: 32 });
    for (const message of peeked.peekedMessageItems) {
      parts.push(message.messageText, Buffer.from(message.messageText, "base64").toString("utf8"));
    }
  }
  return parts.join("\n");
}
