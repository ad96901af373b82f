import type { TokenCredential } from "@azure/core-auth";
import { EventGridPublisherClient, type EventGridPublisherClientOptions } from "@azure/eventgrid";
import { z } from "zod";
import { ensureError } from "../../errors/index.js";
import { redactSecrets } from "../redact.js";
import { SeverityCountsSchema, SeveritySchema } from "../severity.js";
import type { ScanRecord } from "../store/scanRecord.js";

/**
 * `AcrSteward.ScanCompleted`: published after a scan result is stored, so alerting and deployment
 * gates can react without polling. The data holds counts and names only (never report contents or
 * credentials). Publishing is best effort: a topic that is down must not make a stored scan fail
 * or be repeated, so failures are logged and counted, never thrown.
 */

export const SCAN_COMPLETED_EVENT_TYPE = "AcrSteward.ScanCompleted";
export const SCAN_COMPLETED_DATA_VERSION = "1";
/** CloudEvents `source` of our events. */
export const SCAN_EVENTS_SOURCE = "/acr-steward/scanner";

export const ScanCompletedDataSchema = z.object({
  registry: z.string(),
  repository: z.string(),
  digest: z.string(),
  scanId: z.string(),
  scannedAt: z.string(),
  findings: SeverityCountsSchema,
  findingsTotal: z.number().int().nonnegative(),
  unique: SeverityCountsSchema,
  uniqueTotal: z.number().int().nonnegative(),
  fixable: z.number().int().nonnegative(),
  highest: SeveritySchema.nullable(),
  endOfLife: z.boolean(),
  platforms: z.array(z.string()),
  trivyVersion: z.string().optional(),
  reportBlobs: z.array(z.string()),
});
export type ScanCompletedData = z.infer<typeof ScanCompletedDataSchema>;

export interface ScanEventPublisher {
  /** Never throws; resolves to whether the event was accepted. */
  publishScanCompleted(record: ScanRecord): Promise<boolean>;
}

export const NO_SCAN_EVENTS: ScanEventPublisher = { publishScanCompleted: async () => false };

export function scanEventSubject(record: Pick<ScanRecord, "registry" | "repository" | "digest">): string {
  return `${record.registry}/${record.repository}@${record.digest}`;
}

export function scanCompletedData(record: ScanRecord): ScanCompletedData {
  return ScanCompletedDataSchema.parse({
    registry: record.registry,
    repository: record.repository,
    digest: record.digest,
    scanId: record.scanId,
    scannedAt: record.scannedAt,
    findings: record.findings,
    findingsTotal: record.findingsTotal,
    unique: record.unique,
    uniqueTotal: record.uniqueTotal,
    fixable: record.fixable,
    highest: record.highest,
    endOfLife: record.endOfLife,
    platforms: record.platforms.map((child) => child.platform),
    ...(record.scanner.trivyVersion === undefined ? {} : { trivyVersion: record.scanner.trivyVersion }),
    reportBlobs: record.reportBlobs,
  });
}

export interface EventPublisherLogger {
  warn(message: string, context?: Record<string, unknown>): void;
}

export type ScanEventsSchema = "EventGrid" | "CloudEvent";

export interface EventGridScanEventPublisherOptions {
  /** The custom topic endpoint (ACR_STEWARD_SCAN_EVENTS_ENDPOINT). */
  readonly endpoint: string;
  /** Entra identity with EventGrid Data Sender on the topic (topics here disable access keys). */
  readonly credential: TokenCredential;
  /** The topic's input schema. Default EventGrid. */
  readonly schema?: ScanEventsSchema;
  readonly logger?: EventPublisherLogger;
  readonly clientOptions?: EventGridPublisherClientOptions;
}

export class EventGridScanEventPublisher implements ScanEventPublisher {
  readonly #options: EventGridScanEventPublisherOptions;
  readonly #eventGrid: EventGridPublisherClient<"EventGrid"> | undefined;
  readonly #cloudEvents: EventGridPublisherClient<"CloudEvent"> | undefined;

  constructor(options: EventGridScanEventPublisherOptions) {
    this.#options = options;
    if ((options.schema ?? "EventGrid") === "EventGrid") {
      this.#eventGrid = new EventGridPublisherClient(
        options.endpoint,
        "EventGrid",
        options.credential,
        options.clientOptions,
      );
    } else {
      this.#cloudEvents = new EventGridPublisherClient(
        options.endpoint,
        "CloudEvent",
        options.credential,
        options.clientOptions,
      );
    }
  }

  async publishScanCompleted(record: ScanRecord): Promise<boolean> {
    const subject = scanEventSubject(record);
    try {
      const data = scanCompletedData(record);
      const time = new Date(record.scannedAt);
      if (this.#eventGrid !== undefined) {
        await this.#eventGrid.send([
          {
            id: record.scanId,
            eventType: SCAN_COMPLETED_EVENT_TYPE,
            subject,
            eventTime: time,
            dataVersion: SCAN_COMPLETED_DATA_VERSION,
            data,
          },
        ]);
      } else if (this.#cloudEvents !== undefined) {
        await this.#cloudEvents.send([
          {
            id: record.scanId,
            type: SCAN_COMPLETED_EVENT_TYPE,
            source: SCAN_EVENTS_SOURCE,
            subject,
            time,
            datacontenttype: "application/json",
            data,
          },
        ]);
      }
      return true;
    } catch (error) {
      this.#options.logger?.warn("ScanCompleted event not published", {
        subject,
        error: redactSecrets(ensureError(error).message),
      });
      return false;
    }
  }
}
