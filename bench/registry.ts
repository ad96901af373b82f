/**
 * Registry access benchmark: list and inspect every manifest of a synthetic registry (20 repositories ×
 * 500 manifests by default) behind 20 ms of emulator latency, with acr-steward's client and with the
 * naive per-tag loop that scripted cleanups use (list tags, then one manifest GET per tag), in the
 * same run against the same emulator. Calls are counted by the emulator; results go to
 * bench/results/registry.json.
 *
 *   npx tsx bench/registry.ts [--repos 20] [--manifests 500] [--latency 20] [--naive-concurrency 1]
 */
import { writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { ContainerRegistryClient, ContainerRegistryContentClient } from "@azure/container-registry";
import { startEmulator } from "../emulator/index.js";
import { collectListing, InMemoryAuditSink, openRegistry, type Registry } from "../shared/registry/index.js";
import { mapConcurrent } from "../shared/registry/listing.js";
import { fakeAadCredential } from "../test/helpers/emulator.js";

const { values } = parseArgs({
  options: {
    repos: { type: "string", default: "20" },
    manifests: { type: "string", default: "500" },
    latency: { type: "string", default: "20" },
    "naive-concurrency": { type: "string", default: "1" },
    out: { type: "string", default: "bench/results/registry.json" },
  },
});
const repos = Number(values.repos);
const manifestsPerRepo = Number(values.manifests);
const latencyMs = Number(values.latency);
const naiveConcurrency = Number(values["naive-concurrency"]);

interface Measurement {
  readonly calls: number;
  readonly byRoute: Record<string, number>;
  readonly wallMs: number;
  readonly manifests: number;
  readonly tagsSeen: number;
}

const emulator = await startEmulator({
  seed: { kind: "synthetic", repos, manifests: manifestsPerRepo },
  latencyMs,
});
const credential = fakeAadCredential();
try {
  // Warm up modules, TLS and the JIT for both sides, outside the measurements.
  const warm = await openRegistry({
    registry: emulator.loginServer,
    credentials: { kind: "token", credential },
    allowList: [emulator.loginServer],
    caCertPem: emulator.caCert,
    audit: new InMemoryAuditSink(),
  });
  await collectListing(warm.listRepositories());
  for await (const _ of new ContainerRegistryClient(emulator.url, credential, {
    tlsOptions: { ca: emulator.caCert },
  }).listRepositoryNames()) {
    // draining the listing is the warm-up
  }

  // acr-steward: the catalog, then each repository's manifest listing with metadata (100 per page).
  const oursOnce = () =>
    measure(async () => {
      const registry: Registry = await openRegistry({
        registry: emulator.loginServer,
        credentials: { kind: "token", credential },
        allowList: [emulator.loginServer],
        caCertPem: emulator.caCert,
        audit: new InMemoryAuditSink(),
      });
      const repositories = await collectListing(registry.listRepositories());
      const perRepository = await mapConcurrent(repositories, 8, (repository) =>
        collectListing(registry.listManifests(repository)),
      );
      const all = perRepository.flat();
      return { manifests: all.length, tagsSeen: all.reduce((sum, m) => sum + m.tags.length, 0) };
    });
  // The machine is shared: take the median of three runs of ours (each is a few seconds).
  const oursRuns = [await oursOnce(), await oursOnce(), await oursOnce()];
  const ours = { ...median(oursRuns), runsWallMs: oursRuns.map((run) => run.wallMs) };

  // The naive loop: for each repository, list tags, then GET each tag's manifest.
  const naiveLoop = (concurrency: number) => async () => {
    const options = { tlsOptions: { ca: emulator.caCert } };
    const client = new ContainerRegistryClient(emulator.url, credential, options);
    let manifests = 0;
    let tagsSeen = 0;
    for await (const repository of client.listRepositoryNames()) {
      const content = new ContainerRegistryContentClient(emulator.url, repository, credential, options);
      const tags: string[] = [];
      for await (const tag of client.getArtifact(repository, "latest").listTagProperties())
        tags.push(tag.name);
      tagsSeen += tags.length;
      const digests = new Set<string>();
      await mapConcurrent(tags, concurrency, async (tag) => {
        const manifest = await content.getManifest(tag);
        digests.add(manifest.digest);
      });
      manifests += digests.size;
    }
    return { manifests, tagsSeen };
  };
  const naive = await measure(naiveLoop(naiveConcurrency));
  // The same loop with as many requests in flight as ours, to show that the gain is calls, not parallelism.
  const naiveConcurrent = await measure(naiveLoop(8));

  const result = {
    benchmark: "registry: list and inspect every manifest",
    date: new Date().toISOString(),
    node: process.version,
    setup: {
      repositories: repos,
      manifestsPerRepository: manifestsPerRepo,
      emulatorLatencyMs: latencyMs,
      oursConcurrency: "AIMD limiter, 8 repositories at a time, 100 manifests per page",
      naiveConcurrency,
      naiveNote:
        "naive = one request at a time, as scripted cleanups do; naiveWith8InFlight = the same loop, 8 manifest GETs in flight",
    },
    ours,
    naive,
    naiveWith8InFlight: naiveConcurrent,
    ratios: {
      calls: round(naive.calls / ours.calls),
      wallTime: round(naive.wallMs / ours.wallMs),
      wallTimeAgainstNaiveWith8InFlight: round(naiveConcurrent.wallMs / ours.wallMs),
    },
    notes: [
      "calls = every HTTPS request the emulator answered, token requests and 401 challenges included",
      "ours sees every manifest (untagged too) with tags, size, platform, created time and locks; naive sees only tagged manifests and only their digest and media type",
    ],
  };
  await writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await emulator.close();
}

async function measure(run: () => Promise<{ manifests: number; tagsSeen: number }>): Promise<Measurement> {
  emulator.resetStats();
  const started = performance.now();
  const { manifests, tagsSeen } = await run();
  const wallMs = Math.round(performance.now() - started);
  const stats = emulator.stats();
  return { calls: stats.total, byRoute: stats.byRoute, wallMs, manifests, tagsSeen };
}

function median(runs: readonly Measurement[]): Measurement {
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  return sorted[Math.floor(sorted.length / 2)] as Measurement;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
