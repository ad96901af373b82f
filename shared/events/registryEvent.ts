import { z } from "zod";
import { DigestSchema, LoginServerSchema, RepositoryNameSchema, TagSchema } from "../oci/reference.js";

/**
 * The one normalized event every source (Event Grid, CloudEvents, ACR native webhooks, dead-letter
 * blobs, sweeps) is turned into before it reaches the inventory.
 */
export const RegistryEventKindSchema = z.enum(["push", "delete", "chartPush", "chartDelete"]);

export const RegistryEventSourceSchema = z.enum(["eventgrid", "cloudevents", "acr-webhook", "sweep"]);

export const RegistryEventSchema = z.object({
  /** The source's event id (Event Grid `id`, CloudEvents `id`, webhook `id`): the dedupe key. */
  id: z.string().min(1),
  kind: RegistryEventKindSchema,
  /** Login server, lower case, e.g. `myregistry.azurecr.io`. Always checked against the allow-list. */
  registry: LoginServerSchema,
  repository: RepositoryNameSchema,
  digest: DigestSchema,
  tag: TagSchema.optional(),
  mediaType: z.string().min(1),
  /** Bytes of the manifest (not the image) as the event reports it; 0 when the event has none. */
  size: z.number().int().nonnegative(),
  /** When the registry says it happened (ISO 8601, normalized to UTC). Drives ordering. */
  occurredAt: z.iso.datetime({ offset: true }),
  actor: z.string().optional(),
  userAgent: z.string().optional(),
  source: RegistryEventSourceSchema,
  /** Azure region that handled the request (`data.location`), when the event says. */
  location: z.string().optional(),
  /** The registry's request id (`data.request.id`), for correlating with registry logs. */
  requestId: z.string().optional(),
});

export type RegistryEvent = z.infer<typeof RegistryEventSchema>;
export type RegistryEventKind = z.infer<typeof RegistryEventKindSchema>;
export type RegistryEventSource = z.infer<typeof RegistryEventSourceSchema>;
