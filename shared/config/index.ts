export type { StewardConfig, StorageConnection } from "./config.js";
export { loadConfig, parseDuration, StorageConnectionSchema, storageCredential } from "./config.js";
export type { SettingDescription } from "./settings.js";
export { BLOB_CONTAINERS, QUEUE_NAMES, SETTINGS, STORAGE_CONNECTION, TABLE_NAMES } from "./settings.js";
