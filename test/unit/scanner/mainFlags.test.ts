import { describe, expect, it } from "vitest";
import { parseWorkerFlags } from "../../../scanner/main.js";
import { ValidationError } from "../../../shared/errors/index.js";

describe("scanner flags", () => {
  it("default to the container's layout", () => {
    expect(parseWorkerFlags([])).toMatchObject({
      trivy: "trivy",
      cacheDir: "/var/cache/trivy",
      batchSize: 4,
      maxAttempts: 5,
      visibilitySeconds: 300,
      eventsSchema: "EventGrid",
      anonymous: false,
      queue: "scan-requests",
      scansTable: "scans",
      reportsContainer: "scan-reports",
    });
  });

  it("read values and switches", () => {
    expect(
      parseWorkerFlags([
        "--batch-size",
        "8",
        "--events-schema",
        "CloudEvent",
        "--skip-db-refresh",
        "--cache-dir",
        "/c",
      ]),
    ).toMatchObject({ batchSize: 8, eventsSchema: "CloudEvent", skipDbRefresh: true, cacheDir: "/c" });
  });

  it("name the flag that is wrong", () => {
    expect(() => parseWorkerFlags(["--batch-size", "64"])).toThrow(/--batch-size/);
    expect(() => parseWorkerFlags(["--events-schema", "Kafka"])).toThrow(/--events-schema/);
    expect(() => parseWorkerFlags(["--cache-dir", "relative"])).toThrow(ValidationError);
    expect(() => parseWorkerFlags(["--queue", "Bad_Name"])).toThrow(/--queue/);
    expect(() => parseWorkerFlags(["--no-such-flag"])).toThrow(ValidationError);
  });
});
