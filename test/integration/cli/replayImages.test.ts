import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ImageRow } from "../../../cli/commands/images.js";
import { TABLE_NAMES } from "../../../shared/config/settings.js";
import { createTableClient } from "../../../shared/inventory/tableClients.js";
import { ScanRecordSchema } from "../../../shared/scanning/store/scanRecord.js";
import { TableScanStore } from "../../../shared/scanning/store/tableScanStore.js";
import { getTestStorage, stopTestStorage } from "../../helpers/storage.js";
import { cli, copyEventFixtures, type FixtureCopy } from "./helpers.js";

/**
 * `acr-steward replay` then `acr-steward images` on Azurite through `--store`: every fixture shape
 * (Event Grid, CloudEvents, ACR webhooks, dead-letter JSON and JSON lines), rejected events with their
 * file and JSON path, files that are not JSON. Each test uses registries of its own, so tests sharing
 * one Azurite only see their own rows.
 */

const DIGEST = {
  chart: "sha256:fc0fdb1bc7b07e93d7fbbcf7a5e7ee4442b5a5f1da8230735a0bf9387b057dbe",
  apiFirst: "sha256:38cb3e9d5f564f444994e88b3595545f2846c8ba2a939433badb23f96cae4903",
  apiRetagged: "sha256:4e2d3f793628ccf1f412361b46becdfbe7307249cc314c49dd6f5315ed2e73d4",
  apiDeleted: "sha256:f25664569cf511124f9270e38a0c2558de4ee6691b5b852de4fa359f018c57a8",
  worker: "sha256:36b3befad09e50a04b448f8534715e3509cfea01412b94b8c7b13b64a6b1097d",
  builder: "sha256:ea374081c80b73e43598a848aa0921cd8d3e27269072df25f6b934a2d23071cb",
  nginx: "sha256:57a94fc99816c6aa225678b738ac40d85422e75dbb96115f1bb9b6ed77176166",
};

let store: string;
const copies: FixtureCopy[] = [];

beforeAll(async () => {
  store = await getTestStorage();
});
afterAll(async () => {
  for (const copy of copies) copy.remove();
  await stopTestStorage();
});

function fixtures(): FixtureCopy {
  const copy = copyEventFixtures();
  copies.push(copy);
  return copy;
}

const registryOf = (name: string) => `${name}.azurecr.io`;

async function images(...args: string[]): Promise<ImageRow[]> {
  const run = await cli("images", "--json", "--store", store, ...args);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return (JSON.parse(run.stdout) as { images: ImageRow[] }).images;
}

/** What a test compares: the inventory's facts, without the columns enrichment would fill in. */
function facts(rows: readonly ImageRow[]) {
  return rows.map((row) => ({
    repository: row.repository,
    digest: row.digest,
    artifact: row.artifact,
    state: row.state,
    tags: row.tags,
    pushedAt: row.pushedAt,
    pushedBy: row.pushedBy,
    deletedAt: row.deletedAt,
  }));
}

describe("acr-steward replay + images on --store", () => {
  it("replays every fixture shape and images --json shows exactly the resulting inventory", async () => {
    const copy = fixtures();
    const contoso = registryOf(copy.contoso);
    const jolo = registryOf(copy.jolo);
    const run = await cli(
      "replay",
      ...copy.files,
      "--registries",
      `${contoso},${jolo}`,
      "--default-registry",
      contoso,
      "--store",
      store,
      "--json",
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const output = JSON.parse(run.stdout) as {
      files: { file: string; events: number; rejected: number; skipped: number }[];
      totals: Record<string, number>;
    };
    expect(output.files.map((file) => file.file)).toEqual(copy.files);
    // Skipped: a Storage event in the mixed batch, the quarantine webhook, the validation handshake.
    expect(output.totals).toMatchObject({ rejected: 0, skipped: 3 });
    expect(output.totals.events).toBe(
      (output.totals.applied ?? 0) +
        (output.totals.duplicates ?? 0) +
        (output.totals.stale ?? 0) +
        (output.totals.tombstoned ?? 0) +
        3,
    );
    // Nothing read the registry: every image push waits for a sweep to add its details.
    expect(output.totals.needsEnrichment).toBeGreaterThan(0);

    expect(facts(await images("--registry", contoso, "--include-deleted"))).toEqual([
      {
        repository: "helm/ingress",
        digest: DIGEST.chart,
        artifact: "chart",
        state: "deleted",
        tags: [],
        pushedAt: "2026-03-03T08:16:31.008749600Z",
        pushedBy: null,
        deletedAt: "2026-03-03T15:42:08.378377500Z",
      },
      // v1.4.2 moved to the later push; the first digest keeps its untagged re-push as the last one.
      {
        repository: "team-a/api",
        digest: DIGEST.apiRetagged,
        artifact: "image",
        state: "present",
        tags: ["v1.4.2"],
        pushedAt: "2026-03-02T09:15:27.990100000Z",
        pushedBy: "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        deletedAt: null,
      },
      {
        repository: "team-a/api",
        digest: DIGEST.apiFirst,
        artifact: "image",
        state: "present",
        tags: [],
        pushedAt: "2026-03-02T09:15:27.600000000Z",
        pushedBy: null,
        deletedAt: null,
      },
      // Only its delete was delivered: a tombstone without a push.
      {
        repository: "team-a/api",
        digest: DIGEST.apiDeleted,
        artifact: "image",
        state: "deleted",
        tags: [],
        pushedAt: null,
        pushedBy: null,
        deletedAt: "2026-03-02T11:02:43.870000000Z",
      },
      {
        repository: "team-b/worker",
        digest: DIGEST.worker,
        artifact: "image",
        state: "present",
        tags: ["2026.03.02"],
        pushedAt: "2026-03-02T11:59:59.125000000Z",
        pushedBy: "ci-pipeline",
        deletedAt: null,
      },
      {
        repository: "tools/builder",
        digest: DIGEST.builder,
        artifact: "image",
        state: "present",
        tags: ["2018"],
        pushedAt: "2026-03-01T21:39:47.276585742Z",
        pushedBy: null,
        deletedAt: null,
      },
    ]);
    expect(facts(await images("--registry", jolo, "--include-deleted"))).toEqual([
      {
        repository: "samples/nginx",
        digest: DIGEST.nginx,
        artifact: "image",
        state: "deleted",
        tags: [],
        pushedAt: "2021-09-08T06:37:45.468100900Z",
        pushedBy: null,
        deletedAt: "2021-09-08T06:49:40.185024800Z",
      },
    ]);

    const present = await images("--registry", contoso);
    expect(present.map((row) => row.digest)).toEqual([
      DIGEST.apiRetagged,
      DIGEST.apiFirst,
      DIGEST.worker,
      DIGEST.builder,
    ]);
    for (const row of present) {
      expect(row).toMatchObject({ needsEnrichment: true, platforms: [], sizeInBytes: null, scan: null });
    }
    // --repo works with and without --registry (the latter reads every row and filters).
    const byPartition = await images("--registry", contoso, "--repo", "team-a/api");
    expect(byPartition.map((row) => row.digest)).toEqual([DIGEST.apiRetagged, DIGEST.apiFirst]);
    const everywhere = await images("--repo", "team-a/api");
    expect(everywhere.filter((row) => row.registry === contoso)).toEqual(byPartition);
  });

  it("is idempotent: replaying the same files again changes nothing", async () => {
    const copy = fixtures();
    const registries = `${registryOf(copy.contoso)},${registryOf(copy.jolo)}`;
    const args = ["replay", ...copy.files, "--registries", registries, "--store", store];
    await cli(...args, "--default-registry", registryOf(copy.contoso));
    const before = await images("--registry", registryOf(copy.contoso), "--include-deleted");

    const again = await cli(...args, "--default-registry", registryOf(copy.contoso), "--json");
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { totals: { applied: number } }).totals.applied).toBe(0);
    expect(await images("--registry", registryOf(copy.contoso), "--include-deleted")).toEqual(before);
  });

  it("prints a summary table per file and exits 1 naming the file and JSON path of each rejected event, applying the rest", async () => {
    const copy = fixtures();
    const registry = registryOf(copy.contoso);
    const push = (id: string, digest: string, tag: string) => pushEvent(copy.contoso, id, digest, tag);
    const good = `sha256:${"a".repeat(64)}`;
    const alsoGood = `sha256:${"b".repeat(64)}`;
    const badDigest = push("e2", "sha256:not-a-digest", "v2");
    const foreign = push("e3", `sha256:${"c".repeat(64)}`, "v3");
    foreign.data.request.host = "elsewhere.azurecr.io";
    const file = copy.write(
      "events.json",
      JSON.stringify([push("e1", good, "v1"), badDigest, foreign, push("e4", alsoGood, "v4")], null, 2),
    );

    const run = await cli("replay", file, "--registries", registry, "--store", store);
    expect(run.code).toBe(1);
    const lines = run.stderr.split("\n").filter((line) => line.startsWith(file));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      new RegExp(`^${escapeRegExp(file)} \\$\\[1\\]\\.data\\.target\\.digest \\(event e2\\): `),
    );
    expect(lines[1]).toMatch(
      new RegExp(
        `^${escapeRegExp(file)} \\$\\[2\\]\\.data\\.request\\.host \\(event e3\\): .*elsewhere\\.azurecr\\.io`,
      ),
    );
    expect(run.stdout).toBe(
      [
        `FILE${" ".repeat(file.length - 4)}  EVENTS  APPLIED  DUPLICATES  STALE  TOMBSTONED  REJECTED  SKIPPED`,
        `${file}       4        2           0      0           0         2        0`,
        "",
      ].join("\n"),
    );
    expect(facts(await images("--registry", registry))).toEqual([
      expect.objectContaining({ digest: good, tags: ["v1"] }),
      expect.objectContaining({ digest: alsoGood, tags: ["v4"] }),
    ]);
  });

  it("rejects a broken line of a JSON-lines dead-letter blob by line, and applies the other lines", async () => {
    const copy = fixtures();
    const registry = registryOf(copy.contoso);
    const source = copy.files.find((path) =>
      path.endsWith("deadletter/eventgrid_deadletter.jsonl"),
    ) as string;
    const [first, second, third] = readFileSync(source, "utf8").trim().split("\n");
    const file = copy.write("deadletter.jsonl", [first, '{"id": truncated', second, third, ""].join("\n"));

    const run = await cli("replay", file, "--registries", registry, "--store", store, "--json");
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      new RegExp(`^${escapeRegExp(file)} \\$\\[1\\] \\(line 2\\): line 2 is not JSON`, "m"),
    );
    expect(JSON.parse(run.stdout)).toMatchObject({ totals: { events: 4, rejected: 1, applied: 3 } });
    expect(await images("--registry", registry, "--include-deleted")).toHaveLength(3);
  });

  it("refuses a file that is not JSON with exit 2 and writes nothing, not even from the valid files", async () => {
    const copy = fixtures();
    const registry = registryOf(copy.contoso);
    const valid = copy.files.find((path) => path.endsWith("eventgrid/image_pushed_v1.json")) as string;
    const broken = copy.write("notes.txt", "pushed team-a/api:v1.4.2 this morning\n");
    const missing = `${copy.dir}/missing.json`;

    const run = await cli("replay", valid, broken, missing, "--registries", registry, "--store", store);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(`${broken}: not JSON or JSON lines`);
    expect(run.stderr).toContain(`${missing}: cannot read the file (ENOENT)`);
    expect(run.stderr).toContain("nothing was replayed");
    expect(await images("--registry", registry, "--include-deleted")).toEqual([]);
  });

  it("needs an allow-list: --registries or ACR_STEWARD_REGISTRIES, else exit 2 with the reason", async () => {
    const copy = fixtures();
    const saved = process.env.ACR_STEWARD_REGISTRIES;
    delete process.env.ACR_STEWARD_REGISTRIES;
    try {
      const run = await cli("replay", copy.files[0] as string, "--store", store);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain("replay needs an allow-list: pass --registries");
    } finally {
      if (saved !== undefined) process.env.ACR_STEWARD_REGISTRIES = saved;
    }
    // ACR_STEWARD_REGISTRIES stands in for --registries.
    process.env.ACR_STEWARD_REGISTRIES = registryOf(copy.contoso);
    try {
      const file = copy.files.find((path) => path.endsWith("eventgrid/image_pushed_v1.json")) as string;
      const run = await cli("replay", file, "--store", store);
      expect(run.code).toBe(0);
      expect(await images("--registry", registryOf(copy.contoso))).toHaveLength(1);
    } finally {
      if (saved === undefined) delete process.env.ACR_STEWARD_REGISTRIES;
      else process.env.ACR_STEWARD_REGISTRIES = saved;
    }
  });

  it("images prints an aligned table with unknown scan status and a note when nothing matches", async () => {
    const copy = fixtures();
    const registry = registryOf(copy.contoso);
    const file = copy.files.find((path) => path.endsWith("eventgrid/image_pushed_actor_source_offset.json"));
    await cli("replay", file as string, "--registries", registry, "--store", store);

    const table = await cli("images", "--registry", registry, "--store", store);
    expect(table.code).toBe(0);
    expect(table.stdout).toBe(
      [
        "REPOSITORY     DIGEST               TAGS        PLATFORM  SIZE  PUSHED             BY           DELETED  SCAN",
        "team-b/worker  sha256:36b3befad09e  2026.03.02  ?            ?  2026-03-02 11:59Z  ci-pipeline  -        unknown",
        "",
      ].join("\n"),
    );

    // Once the scan worker recorded a result for a digest, images shows it. The scans table is keyed
    // by digest alone, so this digest is one no other test uses.
    const scannedDigest = `sha256:${randomBytes(32).toString("hex")}`;
    const pushed = copy.write(
      "scanned.json",
      JSON.stringify([pushEvent(copy.contoso, "s1", scannedDigest, "v1")]),
    );
    expect((await cli("replay", pushed, "--registries", registry, "--store", store)).code).toBe(0);
    const scans = new TableScanStore(
      createTableClient({ kind: "connectionString", connectionString: store }, TABLE_NAMES.scans),
    );
    await scans.ensureTable();
    await scans.record(
      ScanRecordSchema.parse({
        scanId: `scan-${copy.contoso}`,
        registry,
        repository: "shop/app",
        digest: scannedDigest,
        status: "completed",
        scannedAt: "2026-03-02T12:30:00Z",
        findings: { CRITICAL: 1, HIGH: 4, MEDIUM: 7, LOW: 0, UNKNOWN: 0 },
        findingsTotal: 12,
        unique: { CRITICAL: 1, HIGH: 4, MEDIUM: 7, LOW: 0, UNKNOWN: 0 },
        uniqueTotal: 12,
        fixable: 9,
        unfixable: 3,
        highest: "CRITICAL",
        secrets: 0,
        misconfigurations: 0,
        os: null,
        endOfLife: false,
        scanner: {},
        worst: [],
        platforms: [],
        reportBlobs: [],
      }),
    );
    const scanned = await cli("images", "--registry", registry, "--repo", "shop/app", "--store", store);
    expect(scanned.stdout.split("\n")[1]).toMatch(/ {2}- {3}- {8}1 critical, 4 high$/);
    expect((await images("--registry", registry, "--repo", "shop/app"))[0]?.scan).toEqual({
      status: "completed",
      scannedAt: "2026-03-02T12:30:00Z",
      highest: "CRITICAL",
      findings: { CRITICAL: 1, HIGH: 4, MEDIUM: 7, LOW: 0, UNKNOWN: 0 },
      fixable: 9,
    });
    const empty = await cli("images", "--registry", registry, "--repo", "nothing/here", "--store", store);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe("REPOSITORY  DIGEST  TAGS  PLATFORM  SIZE  PUSHED  BY  DELETED  SCAN\n");
    expect(empty.stderr).toContain(`no images for registry ${registry}, repository nothing/here`);
  });
});

/** An Event Grid ImagePushed event of `shop/app` in registry `<name>.azurecr.io`. */
function pushEvent(name: string, id: string, digest: string, tag: string) {
  return {
    id,
    topic: `/subscriptions/0/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/${name}`,
    subject: `shop/app:${tag}`,
    eventType: "Microsoft.ContainerRegistry.ImagePushed",
    eventTime: "2026-04-01T10:00:00Z",
    data: {
      id,
      timestamp: "2026-04-01T10:00:00Z",
      action: "push",
      target: {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        size: 1000,
        digest,
        repository: "shop/app",
        tag,
      },
      request: { id: `r-${id}`, host: registryOf(name), method: "PUT" },
    },
    dataVersion: "2.0",
    metadataVersion: "1",
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
