import type { AccessToken, TokenCredential } from "@azure/core-auth";
import {
  createHttpHeaders,
  type HttpClient,
  type PipelineRequest,
  type PipelineResponse,
} from "@azure/core-rest-pipeline";
import { describe, expect, it } from "vitest";
import {
  EventGridScanEventPublisher,
  SCAN_COMPLETED_EVENT_TYPE,
  scanEventSubject,
} from "../../../shared/scanning/events/index.js";
import type { ScanRecord } from "../../../shared/scanning/store/scanRecord.js";

const zero = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };
const DIGEST = `sha256:${"a".repeat(64)}`;
const RECORD: ScanRecord = {
  scanId: "0b4c8f7e-1111-4222-8333-944445555666",
  registry: "myregistry.azurecr.io",
  repository: "team/app",
  digest: DIGEST,
  status: "completed",
  scannedAt: "2026-11-01T10:00:00.000Z",
  findings: { ...zero, CRITICAL: 1, LOW: 2 },
  findingsTotal: 3,
  unique: { ...zero, CRITICAL: 1, LOW: 1 },
  uniqueTotal: 2,
  fixable: 2,
  unfixable: 1,
  highest: "CRITICAL",
  secrets: 0,
  misconfigurations: 0,
  os: { family: "alpine", name: "3.9.4", endOfLife: true },
  endOfLife: true,
  scanner: { trivyVersion: "0.74.0" },
  worst: [{ vulnerabilityId: "CVE-2019-1549", severity: "CRITICAL" }],
  platforms: [],
  reportBlobs: [`${DIGEST}/x.json.gz`],
};

const credential: TokenCredential = {
  getToken: async (): Promise<AccessToken> => ({
    token: "aad-token",
    expiresOnTimestamp: Date.now() + 3_600_000,
  }),
};

function capturing(status: number): { client: HttpClient; requests: PipelineRequest[] } {
  const requests: PipelineRequest[] = [];
  return {
    requests,
    client: {
      async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
        requests.push(request);
        return {
          request,
          status,
          headers: createHttpHeaders(),
          bodyAsText: status === 200 ? "" : '{"error":{}}',
        };
      },
    },
  };
}

describe("ScanCompleted publisher", () => {
  it("sends one Event Grid schema event with identity auth, subject registry/repository@digest and the counts", async () => {
    const { client, requests } = capturing(200);
    const warnings: string[] = [];
    const publisher = new EventGridScanEventPublisher({
      endpoint: "https://scans.westeurope-1.eventgrid.azure.net/api/events",
      credential,
      logger: { warn: (message) => warnings.push(message) },
      clientOptions: { httpClient: client, retryOptions: { maxRetries: 0 } },
    });
    expect(await publisher.publishScanCompleted(RECORD)).toBe(true);
    expect(warnings).toEqual([]);
    expect(requests).toHaveLength(1);
    const request = requests[0];
    expect(request?.headers.get("authorization")).toBe("Bearer aad-token");
    const [event] = JSON.parse(String(request?.body)) as Record<string, unknown>[];
    expect(event).toMatchObject({
      id: RECORD.scanId,
      eventType: SCAN_COMPLETED_EVENT_TYPE,
      subject: `myregistry.azurecr.io/team/app@${DIGEST}`,
      dataVersion: "1",
      eventTime: "2026-11-01T10:00:00.000Z",
      data: {
        digest: DIGEST,
        findings: RECORD.findings,
        unique: RECORD.unique,
        highest: "CRITICAL",
        endOfLife: true,
        fixable: 2,
      },
    });
    expect(scanEventSubject(RECORD)).toBe(event?.subject);
  });

  it("can publish CloudEvents to a topic that takes that schema", async () => {
    const { client, requests } = capturing(200);
    const publisher = new EventGridScanEventPublisher({
      endpoint: "https://scans.westeurope-1.eventgrid.azure.net/api/events",
      credential,
      schema: "CloudEvent",
      clientOptions: { httpClient: client, retryOptions: { maxRetries: 0 } },
    });
    expect(await publisher.publishScanCompleted(RECORD)).toBe(true);
    const [event] = JSON.parse(String(requests[0]?.body)) as Record<string, unknown>[];
    expect(event).toMatchObject({
      type: SCAN_COMPLETED_EVENT_TYPE,
      specversion: "1.0",
      subject: scanEventSubject(RECORD),
    });
  });

  it("logs and swallows a failed publish", async () => {
    const { client } = capturing(403);
    const warnings: string[] = [];
    const publisher = new EventGridScanEventPublisher({
      endpoint: "https://scans.westeurope-1.eventgrid.azure.net/api/events",
      credential,
      logger: { warn: (message) => warnings.push(message) },
      clientOptions: { httpClient: client, retryOptions: { maxRetries: 0 } },
    });
    expect(await publisher.publishScanCompleted(RECORD)).toBe(false);
    expect(warnings).toEqual(["ScanCompleted event not published"]);
  });
});
