import { QueueClient } from "@azure/storage-queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO } from "../../../emulator/index.js";
import { loadConfig } from "../../../shared/config/config.js";
import { parseRegistryEvents } from "../../../shared/events/parse.js";
import { ingestEvents } from "../../../shared/ingest/ingestEvents.js";
import { createTableClient } from "../../../shared/inventory/tableClients.js";
import { InMemoryAuditSink, openRegistry, type Registry } from "../../../shared/registry/index.js";
import {
  buildIngestRuntime,
  type IngestRuntime,
  RECORD_FROM_EVENT_ONLY,
} from "../../../shared/runtime/index.js";
import type { ScanRecord } from "../../../shared/scanning/store/scanRecord.js";
import { TableScanStore } from "../../../shared/scanning/store/tableScanStore.js";
import { startTestEmulator, type TestEmulator } from "../../helpers/emulator.js";
import { getTestStorage, stopTestStorage, uniqueName } from "../../helpers/storage.js";

/**
 * The ingest runtime as the functions build it, on Azurite: pushes are described from the registry
 * (our emulator, through the real @azure/container-registry SDK) and recorded anyway when it cannot
 * be read; scan requests skip digests the `scans` table says were scanned recently.
 */

let connectionString: string;
beforeAll(async () => {
  connectionString = await getTestStorage();
}, 60_000);
afterAll(stopTestStorage);

let eventCounter = 0;

/** An Event Grid ImagePushed delivery as ACR sends it (fields as in test/fixtures/events). */
function imagePushed(target: {
  registry: string;
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  tag?: string;
  at: Date;
}): unknown {
  eventCounter += 1;
  const id = `runtime-test-${eventCounter}-${target.at.getTime()}`;
  return [
    {
      id,
      topic:
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/test",
      subject: `${target.repository}${target.tag === undefined ? "" : `:${target.tag}`}`,
      eventType: "Microsoft.ContainerRegistry.ImagePushed",
      data: {
        id,
        timestamp: target.at.toISOString(),
        action: "push",
        target: {
          mediaType: target.mediaType,
          size: target.size,
          digest: target.digest,
          length: target.size,
          repository: target.repository,
          ...(target.tag === undefined ? {} : { tag: target.tag }),
        },
        request: { id: `request-${id}`, host: target.registry, method: "PUT", useragent: "test" },
      },
      dataVersion: "2.0",
      metadataVersion: "1",
      eventTime: target.at.toISOString(),
    },
  ];
}

async function deliver(runtime: IngestRuntime, body: unknown, now: Date) {
  const parsed = parseRegistryEvents(body, { ...runtime.parseOptions, now });
  expect(parsed.rejected).toEqual([]);
  return ingestEvents(parsed.events, runtime.ingest, now);
}

function uniqueNames() {
  return {
    tables: {
      manifests: uniqueName("manifests"),
      tags: uniqueName("tags"),
      audit: uniqueName("audit"),
      coordination: uniqueName("coordination"),
      scans: uniqueName("scans"),
    },
    queues: { scanRequests: uniqueName("scan"), retentionRequests: uniqueName("retention") },
  };
}

describe("ingest runtime: enrichment from the registry", () => {
  let env: TestEmulator;
  let registry: Registry;
  let runtime: IngestRuntime;

  beforeAll(async () => {
    env = await startTestEmulator({ seed: { kind: "demo" } });
    registry = await openRegistry({
      registry: env.loginServer,
      credentials: { kind: "token", credential: env.credential },
      allowList: [env.loginServer],
      caCertPem: env.emulator.caCert,
      audit: new InMemoryAuditSink(),
    });
    const config = loadConfig({
      ACR_STEWARD_REGISTRIES: env.loginServer,
      ACR_STEWARD_STORAGE: connectionString,
    });
    runtime = await buildIngestRuntime(config, {
      registryAccess: {
        credentials: { kind: "token", credential: env.credential },
        caCertPem: env.emulator.caCert,
        audit: new InMemoryAuditSink(),
        retryPolicy: { baseDelayMs: 5, maxDelayMs: 20 },
      },
      names: uniqueNames(),
    });
  }, 60_000);
  afterAll(async () => {
    await env?.close();
  });

  async function pushOf(repository: string, tag: string, at: Date) {
    const details = await registry.inspect({ repository, tag });
    const body = imagePushed({
      registry: env.loginServer,
      repository,
      tag,
      digest: details.digest,
      mediaType: details.mediaType,
      size: details.manifestSizeBytes,
      at,
    });
    return { details, body };
  }

  it("records a pushed multi-arch index with its platforms and children", async () => {
    const { repository, tag } = DEMO.multiArch;
    const at = new Date();
    const { details, body } = await pushOf(repository, tag, at);
    const report = await deliver(runtime, body, at);
    expect(report).toMatchObject({ applied: 1, needsEnrichment: 0, errors: [] });

    const row = await runtime.ingest.inventory.getManifest(env.loginServer, repository, details.digest);
    expect(row?.needsEnrichment).toBe(false);
    expect(row?.description?.platforms).toEqual([
      { architecture: "amd64", os: "linux" },
      { architecture: "arm64", os: "linux", variant: "v8" },
    ]);
    const children = row?.description?.children ?? [];
    expect(children).toHaveLength(2);
    for (const child of children) {
      const childDetails = await registry.inspect({ repository, digest: child });
      expect(childDetails.children).toEqual([]);
      expect(childDetails.platforms).toEqual([]);
    }
  });

  it("records a pushed referrer with the manifest it refers to", async () => {
    const { repository, tag } = DEMO.referrerSubject;
    const subject = await registry.inspect({ repository, tag });
    const referrers = await registry.listReferrers(repository, subject.digest);
    const referrer = referrers[0];
    if (referrer === undefined) throw new Error(`the demo seed has no referrer of ${repository}:${tag}`);
    const at = new Date();
    const report = await deliver(
      runtime,
      imagePushed({
        registry: env.loginServer,
        repository,
        digest: referrer.digest,
        mediaType: referrer.mediaType ?? "application/vnd.oci.image.manifest.v1+json",
        size: referrer.size ?? 0,
        at,
      }),
      at,
    );
    expect(report).toMatchObject({ applied: 1, needsEnrichment: 0, errors: [] });
    const row = await runtime.ingest.inventory.getManifest(env.loginServer, repository, referrer.digest);
    expect(row?.needsEnrichment).toBe(false);
    expect(row?.description?.subject).toBe(subject.digest);
  });

  it("records the push anyway, marked for enrichment, while the registry answers 500, and enriches a later push", async () => {
    const at = new Date();
    const { details, body } = await pushOf("team/web", "1.10.0", at);
    env.emulator.resetStats();
    env.emulator.setFaults({ failRates: { "500": 1 } });
    let report: Awaited<ReturnType<typeof deliver>>;
    try {
      report = await deliver(runtime, body, at);
    } finally {
      env.emulator.setFaults({ failRates: {} });
    }
    expect(report).toMatchObject({ applied: 1, needsEnrichment: 1, errors: [] });
    // The read was retried before the event was recorded without it.
    expect(env.emulator.stats().faults.injected500).toBeGreaterThan(1);
    const recorded = await runtime.ingest.inventory.getManifest(env.loginServer, "team/web", details.digest);
    expect(recorded).toMatchObject({ state: "present", needsEnrichment: true, tags: ["1.10.0"] });
    expect(recorded?.description).toBeUndefined();
    expect(recorded?.enrichmentError).toBeTruthy();

    const later = new Date(at.getTime() + 1000);
    const again = await pushOf("team/web", "1.10.0", later);
    expect(await deliver(runtime, again.body, later)).toMatchObject({ applied: 1, needsEnrichment: 0 });
    const enriched = await runtime.ingest.inventory.getManifest(env.loginServer, "team/web", details.digest);
    expect(enriched?.needsEnrichment).toBe(false);
    expect(enriched?.description?.platforms).toEqual([{ architecture: "amd64", os: "linux" }]);
  });

  it("records the push anyway, marked for enrichment, when the registry is down", async () => {
    const at = new Date();
    const { details, body } = await pushOf("team/web", "1.2.3", at);
    await env.close();
    const report = await deliver(runtime, body, at);
    expect(report).toMatchObject({ applied: 1, needsEnrichment: 1, errors: [] });
    const recorded = await runtime.ingest.inventory.getManifest(env.loginServer, "team/web", details.digest);
    expect(recorded).toMatchObject({ state: "present", needsEnrichment: true, tags: ["1.2.3"] });
  });
});

describe("ingest runtime: scan requests and the scans table", () => {
  const REGISTRY = "contoso.azurecr.io";
  const FRESHNESS_MS = 7 * 24 * 60 * 60 * 1000;
  const zero = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };

  function scan(digest: string, scannedAt: Date, status: ScanRecord["status"] = "completed"): ScanRecord {
    return {
      scanId: `scan-${scannedAt.getTime()}`,
      registry: REGISTRY,
      repository: "team/app",
      digest,
      status,
      scannedAt: scannedAt.toISOString(),
      findings: zero,
      findingsTotal: 0,
      unique: zero,
      uniqueTotal: 0,
      fixable: 0,
      unfixable: 0,
      highest: null,
      secrets: 0,
      misconfigurations: 0,
      os: null,
      endOfLife: false,
      scanner: {},
      worst: [],
      platforms: [],
      reportBlobs: [],
    };
  }

  const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;

  it("queues scans only for digests not scanned to completion within ACR_STEWARD_SCAN_FRESHNESS", async () => {
    const names = uniqueNames();
    const config = loadConfig({
      ACR_STEWARD_REGISTRIES: REGISTRY,
      ACR_STEWARD_STORAGE: connectionString,
      ACR_STEWARD_SCAN_FRESHNESS: "7d",
    });
    const runtime = await buildIngestRuntime(config, { enricher: RECORD_FROM_EVENT_ONLY, names });
    const now = new Date();
    const scans = new TableScanStore(createTableClient(config.storage, names.tables.scans));
    const fresh = digest(1);
    const stale = digest(2);
    const failed = digest(3);
    const never = digest(4);
    await scans.record(scan(fresh, new Date(now.getTime() - 60 * 60 * 1000)));
    await scans.record(scan(stale, new Date(now.getTime() - FRESHNESS_MS - 60 * 60 * 1000)));
    await scans.record(scan(failed, new Date(now.getTime() - 60 * 60 * 1000), "failed"));

    const body = [fresh, stale, failed, never].flatMap(
      (d, index) =>
        imagePushed({
          registry: REGISTRY,
          repository: "team/app",
          digest: d,
          tag: `v${index}`,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          size: 500,
          at: now,
        }) as unknown[],
    );
    const report = await deliver(runtime, body, now);
    expect(report).toMatchObject({ applied: 4, scansQueued: 3, errors: [] });

    const queue = new QueueClient(connectionString, names.queues.scanRequests);
    const { peekedMessageItems } = await queue.peekMessages({ numberOfMessages: 32 });
    const requested = peekedMessageItems.map(
      (item) =>
        (JSON.parse(Buffer.from(item.messageText, "base64").toString("utf8")) as { digest: string }).digest,
    );
    expect(requested.sort()).toEqual([stale, failed, never].sort());
  });
});
