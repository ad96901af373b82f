import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO, type RunningEmulator, startEmulator } from "../../../emulator/index.js";

/** The demo and synthetic seeds: the content the docs promise. */

const DAY = 24 * 60 * 60 * 1000;

describe("demo seed", () => {
  let emulator: RunningEmulator;
  beforeAll(async () => {
    emulator = await startEmulator({ seed: { kind: "demo" } });
  });
  afterAll(async () => {
    await emulator?.close();
  });

  it("has the documented repositories, semver and latest tags, old and recent", () => {
    const store = emulator.store;
    for (const name of DEMO.repositories) expect(store.repository(name), name).toBeDefined();
    const web = store.repository("team/web");
    expect([...(web?.tags.keys() ?? [])].sort()).toEqual(["1.0.0", "1.10.0", "1.11.0", "1.2.3", "latest"]);
    const ages = [...(web?.manifests.values() ?? [])].map((m) => Date.now() - m.createdMs);
    expect(Math.max(...ages)).toBeGreaterThan(90 * DAY);
    expect(Math.min(...ages)).toBeLessThan(7 * DAY);
  });

  it("has a multi-arch index with untagged amd64 and arm64 children whose blobs exist", () => {
    const store = emulator.store;
    const index = store.resolve(DEMO.multiArch.repository, DEMO.multiArch.tag);
    expect(index?.isIndex).toBe(true);
    expect(index?.references.map((r) => r.architecture).sort()).toEqual(["amd64", "arm64"]);
    for (const child of index?.childDigests ?? []) {
      const manifest = store.resolve(DEMO.multiArch.repository, child);
      expect(manifest?.tags.size).toBe(0);
      for (const blob of manifest?.blobDigests ?? []) {
        expect(store.getBlob(DEMO.multiArch.repository, blob)).toBeDefined();
      }
    }
  });

  it("has a signature and an SBOM as referrers, a locked manifest, and untagged manifests", () => {
    const store = emulator.store;
    const subject = store.resolve(DEMO.referrerSubject.repository, DEMO.referrerSubject.tag);
    const referrers = store.referrers(DEMO.referrerSubject.repository, subject?.digest ?? "");
    expect(referrers.map((r) => r.artifactType).sort()).toEqual([
      "application/spdx+json",
      "application/vnd.cncf.notary.signature",
    ]);
    expect(store.resolve(DEMO.locked.repository, DEMO.locked.tag)?.attributes.deleteEnabled).toBe(false);
    const untagged = [...(store.repository("team/web")?.manifests.values() ?? [])].filter(
      (m) => m.tags.size === 0,
    );
    expect(untagged.length).toBeGreaterThanOrEqual(4);
  });
});

describe("synthetic seed", () => {
  it("builds R repositories of M manifests with shared layers, tags, indexes and a time spread", async () => {
    const emulator = await startEmulator({ seed: { kind: "synthetic", repos: 4, manifests: 120 } });
    try {
      const store = emulator.store;
      expect(store.counts().repositories).toBe(4);
      expect(store.counts().manifests).toBe(480);
      const first = store.listRepositories(undefined, 10).items[0] ?? "";
      const page = store.listManifests(first, { limit: 1000, order: "timeasc" });
      expect(page.items).toHaveLength(120);
      const times = page.items.map((m) => m.updatedMs);
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      expect((times.at(-1) ?? 0) - (times[0] ?? 0)).toBeGreaterThan(300 * DAY);
      expect(page.items.some((m) => m.isIndex)).toBe(true);
      expect(page.items.filter((m) => m.tags.size === 0).length).toBeGreaterThan(20);
      expect(store.tag(first, "latest")?.digest).toBe(page.items.at(-1)?.digest);
      // Layers are shared: far fewer blobs than manifests × layers.
      expect(store.counts().blobs).toBeLessThan(480 + 20);
      const byDesc = store.listManifests(first, { limit: 50, order: "timedesc" });
      const next = store.listManifests(first, {
        limit: 50,
        order: "timedesc",
        last: byDesc.items.at(-1)?.digest,
      });
      expect(next.items[0]?.updatedMs).toBeLessThan(byDesc.items.at(-1)?.updatedMs ?? 0);
    } finally {
      await emulator.close();
    }
  });
});
