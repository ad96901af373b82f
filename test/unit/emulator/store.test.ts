import { describe, expect, it } from "vitest";
import { sha256Digest } from "../../../emulator/grammar.js";
import { MediaType, parseManifest } from "../../../emulator/manifest.js";
import { RegistryStore } from "../../../emulator/store.js";

/** The in-memory registry: references, tags, locks, referrers and time-ordered paging. */

let clock = 1_000_000;
const tick = () => (clock += 1000);

function newStore(): RegistryStore {
  clock = 1_000_000;
  return new RegistryStore(() => clock);
}

function blob(store: RegistryStore, repo: string, content: string): { digest: string; size: number } {
  const bytes = Buffer.from(content);
  const digest = sha256Digest(bytes);
  store.putBlob(repo, digest, bytes);
  return { digest, size: bytes.length };
}

function image(store: RegistryStore, repo: string, label: string, tags: string[], subject?: string) {
  const config = blob(store, repo, JSON.stringify({ architecture: "arm64", os: "linux", label }));
  const layer = blob(store, repo, `layer ${label}`);
  const body = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      ...(subject !== undefined ? { artifactType: "application/example" } : {}),
      config: { mediaType: MediaType.ociConfig, ...config },
      layers: [{ mediaType: MediaType.ociLayerGzip, ...layer }],
      ...(subject !== undefined
        ? { subject: { mediaType: MediaType.ociManifest, digest: subject, size: 1 } }
        : {}),
    }),
  );
  tick();
  return store.putManifest(repo, body, parseManifest(body, MediaType.ociManifest), { tags }).manifest;
}

describe("RegistryStore", () => {
  it("reads the platform from the config and refuses manifests whose blobs are missing", () => {
    const store = newStore();
    const m = image(store, "a", "one", ["v1"]);
    expect(m.architecture).toBe("arm64");
    expect(m.os).toBe("linux");
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        config: { mediaType: MediaType.ociConfig, digest: sha256Digest(Buffer.from("x")), size: 1 },
        layers: [],
      }),
    );
    expect(() => store.putManifest("a", body, parseManifest(body, undefined), { tags: [] })).toThrow(
      expect.objectContaining({ code: "MANIFEST_BLOB_UNKNOWN" }),
    );
  });

  it("moves tags, keeping the repository's tag and manifest counts right", () => {
    const store = newStore();
    const first = image(store, "a", "one", ["v1", "latest"]);
    const second = image(store, "a", "two", ["latest"]);
    expect([...first.tags]).toEqual(["v1"]);
    expect([...second.tags]).toEqual(["latest"]);
    expect(store.repository("a")?.tags.size).toBe(2);
    expect(store.repository("a")?.manifests.size).toBe(2);
  });

  it("refuses writes and deletes that locks forbid, and allows idempotent re-pushes", () => {
    const store = newStore();
    const m = image(store, "a", "one", ["v1"]);
    store.updateTagAttributes("a", "v1", { writeEnabled: false });
    expect(() => image(store, "a", "two", ["v1"])).toThrow(expect.objectContaining({ status: 405 }));
    expect(store.putManifest("a", m.bytes, parseManifest(m.bytes, undefined), { tags: ["v1"] }).created).toBe(
      false,
    );
    store.updateManifestAttributes("a", m.digest, { deleteEnabled: false });
    expect(() => store.deleteManifest("a", m.digest)).toThrow(
      expect.objectContaining({ code: "REGISTRY_DISALLOWED_OPERATION" }),
    );
    expect(() => store.deleteRepository("a")).toThrow(expect.objectContaining({ status: 405 }));
    store.updateManifestAttributes("a", m.digest, { deleteEnabled: true });
    store.updateTagAttributes("a", "v1", { deleteEnabled: false });
    expect(() => store.deleteManifest("a", m.digest)).toThrow(expect.objectContaining({ status: 405 }));
    store.updateRepositoryAttributes("a", { writeEnabled: false });
    expect(() => image(store, "a", "three", ["v3"])).toThrow(expect.objectContaining({ status: 405 }));
  });

  it("tracks referrers and forgets them when the referrer is deleted", () => {
    const store = newStore();
    const subject = image(store, "a", "app", ["v1"]);
    const sig = image(store, "a", "sig", [], subject.digest);
    expect(store.referrers("a", subject.digest).map((m) => m.digest)).toEqual([sig.digest]);
    expect(sig.artifactType).toBe("application/example");
    store.deleteManifest("a", sig.digest);
    expect(store.referrers("a", subject.digest)).toEqual([]);
  });

  it("pages by time in both directions and continues after a deleted `last`", () => {
    const store = newStore();
    const digests = ["1", "2", "3", "4", "5"].map((n) => image(store, "a", n, [`t${n}`]).digest);
    const first = store.listManifests("a", { limit: 2, order: "timedesc" });
    expect(first.items.map((m) => m.digest)).toEqual([digests[4], digests[3]]);
    expect(first.more).toBe(true);
    store.deleteManifest("a", digests[3] as string);
    const second = store.listManifests("a", { limit: 2, order: "timedesc", last: digests[3] });
    expect(second.items.map((m) => m.digest)).toEqual([digests[2], digests[1]]);
    const asc = store.listTags("a", { limit: 10, order: "timeasc" });
    expect(asc.items.map((t) => t.name)).toEqual(["t1", "t2", "t3", "t5"]);
    tick();
    store.updateTagAttributes("a", "t1", { writeEnabled: true });
    expect(store.listTags("a", { limit: 10, order: "timedesc" }).items[0]?.name).toBe("t1");
    expect(store.listTags("a", { limit: 10, order: "none", last: "t2" }).items.map((t) => t.name)).toEqual([
      "t3",
      "t5",
    ]);
  });

  it("hides a repository from catalogs once its last manifest is gone, and drops unlinked blobs", () => {
    const store = newStore();
    const m = image(store, "a", "only", []);
    image(store, "b", "other", []);
    expect(store.listRepositories(undefined, 10).items).toEqual(["a", "b"]);
    store.deleteManifest("a", m.digest);
    expect(store.listRepositories(undefined, 10).items).toEqual(["b"]);
    const before = store.blobCount();
    store.deleteRepository("b");
    expect(store.blobCount()).toBeLessThan(before);
  });
});
