// acr-steward on Azure, deployed by `azd up`: a resource group with monitoring, identity-only
// storage, the function app (Flex Consumption), the scan job (Container Apps), and the Event Grid
// wiring that turns registry pushes and deletes into messages on the registry-events queue.
// Names of queues, tables and containers mirror shared/config/settings.ts (checked by tests).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; part of every resource name.')
param environmentName string

@minLength(1)
@description('Region of the new resources; it must offer Flex Consumption function apps.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Resource group to create or reuse; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Name of an existing registry to look after; empty creates a new one in the resource group.')
param existingRegistryName string = ''

@description('Resource group of that existing registry; empty means the resource group above.')
param existingRegistryResourceGroupName string = ''

@description('SKU of a new registry.')
@allowed(['Basic', 'Standard', 'Premium'])
param registrySku string = 'Basic'

@description('Permission mode of the registry: LegacyRegistryPermissions (AcrPull/AcrDelete) or AbacRepositoryPermissions (repository roles). Set on a new registry; for an existing one, state the mode it has.')
@allowed(['LegacyRegistryPermissions', 'AbacRepositoryPermissions'])
param registryRoleAssignmentMode string = 'LegacyRegistryPermissions'

@description('Name of the registry\'s Event Grid system topic. A registry has at most one: if yours already has one, give its name (it must be in the registry\'s resource group).')
param registrySystemTopicName string = ''

@description('Object id of the person or CI principal running azd; gets push rights on the registry so `azd deploy` can push the scanner image. Empty grants nothing.')
param deployerPrincipalId string = ''

@description('Also subscribe the onRegistryEvent function directly (only after its code is deployed; the queue path already delivers every event).')
param enableDirectEventGridSubscription bool = false

@description('Create an Event Grid custom topic for ScanCompleted events.')
param enableScanEventsTopic bool = false

@description('Event schema of the ScanCompleted topic.')
@allowed(['CloudEventSchemaV1_0', 'EventGridSchema'])
param scanEventsSchema string = 'EventGridSchema'

@description('Key Vault secret URI of the shared secret ACR native webhooks must send; empty leaves ACR_STEWARD_WEBHOOK_SECRET unset (webhooks refused). Grant the function identity Key Vault Secrets User on it.')
param webhookSecretKeyVaultSecretUri string = ''

@description('Entra audience for registry tokens (ACR_STEWARD_ACR_AUDIENCE).')
param acrAudience string = 'https://containerregistry.azure.net'

@description('ACR_STEWARD_UNKNOWN_EVENTS: skip or reject event types acr-steward does not handle.')
@allowed(['skip', 'reject'])
param unknownEvents string = 'skip'

@description('ACR_STEWARD_SCAN_FRESHNESS: a digest scanned within this duration is not scanned again.')
param scanFreshness string = '7d'

@description('ACR_STEWARD_RETENTION_DEBOUNCE: at most one pending retention request per repository within this duration.')
param retentionDebounce string = '10m'

@description('ACR_STEWARD_RETENTION_POLICY: the retention policy as YAML or JSON text; empty plans nothing.')
param retentionPolicy string = ''

@description('ACR_STEWARD_RETENTION_ENFORCE: true lets retention delete; false keeps every run a dry run.')
param retentionEnforce bool = false

@description('ACR_STEWARD_DELETE_CAP_PER_REPOSITORY: most manifests one retention run deletes in one repository.')
@minValue(0)
param deleteCapPerRepository int = 100

@description('ACR_STEWARD_DELETE_CAP_GLOBAL: most manifests one retention run deletes in total.')
@minValue(0)
param deleteCapGlobal int = 1000

@description('ACR_STEWARD_SWEEP_SCHEDULE: six-field NCRONTAB schedule of the reconciliation sweep.')
param sweepSchedule string = '0 0 3 * * *'

@description('ACR_STEWARD_TRIVY_DB_REPOSITORY: OCI repository of the Trivy vulnerability DB.')
param trivyDbRepository string = 'mirror.gcr.io/aquasec/trivy-db:2'

@description('ACR_STEWARD_TRIVY_TIMEOUT: timeout of one Trivy scan.')
param trivyTimeout string = '15m'

@description('Scanner image (set by azd after it pushes scanner/Dockerfile); empty runs a placeholder.')
param scannerImageName string = ''

@description('Most scan job executions at once.')
@minValue(1)
@maxValue(100)
param scanJobMaxExecutions int = 10

@description('Most function app instances (Flex Consumption: 40-1000).')
@minValue(40)
@maxValue(1000)
param functionMaximumInstanceCount int = 40

@description('Memory of one function app instance in MB.')
@allowed([512, 2048, 4096])
param functionInstanceMemoryMB int = 2048

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

// Mirrors QUEUE_NAMES, TABLE_NAMES and BLOB_CONTAINERS in shared/config/settings.ts.
var queueNames = {
  registryEvents: 'registry-events'
  scanRequests: 'scan-requests'
  retentionRequests: 'retention-requests'
  reconcileRequests: 'reconcile-requests'
}
var tableNames = {
  manifests: 'manifests'
  tags: 'tags'
  scans: 'scans'
  audit: 'audit'
  coordination: 'coordination'
}
var blobContainers = {
  scanReports: 'scan-reports'
  eventsDeadLetter: 'registry-events-deadletter'
}

var functionAppName = '${abbrs.webSitesFunctions}${resourceToken}'
var deploymentContainerName = 'app-package-${take(functionAppName, 32)}-${take(resourceToken, 7)}'
var createRegistry = empty(existingRegistryName)
var registryName = createRegistry ? '${abbrs.containerRegistryRegistries}${resourceToken}' : existingRegistryName
var systemTopicName = empty(registrySystemTopicName)
  ? '${abbrs.eventGridSystemTopics}${registryName}'
  : registrySystemTopicName

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: empty(resourceGroupName) ? '${abbrs.resourcesResourceGroups}${environmentName}' : resourceGroupName
  location: location
  tags: tags
}

// The registry's resource group: a new registry goes into ours.
var registryResourceGroupName = createRegistry || empty(existingRegistryResourceGroupName)
  ? rg.name
  : existingRegistryResourceGroupName
// Only a registry in our own resource group is wired by this template (see registry-wiring.bicep).
var wireRegistryInTemplate = registryResourceGroupName == rg.name

module functionIdentity 'modules/identity.bicep' = {
  name: 'function-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}func-${resourceToken}'
    location: location
    tags: tags
  }
}

module scannerIdentity 'modules/identity.bicep' = {
  name: 'scanner-identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}scan-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    telemetryPublisherPrincipalIds: [functionIdentity.outputs.principalId, scannerIdentity.outputs.principalId]
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    queueNames: map(items(queueNames), q => q.value)
    tableNames: map(items(tableNames), t => t.value)
    containerNames: concat(map(items(blobContainers), c => c.value), [deploymentContainerName])
  }
}

// Function app: host storage needs Blob Data Owner (leases, timer locks, deployment package); the
// app reads and writes every queue and table of its own account.
module functionStorageAccess 'modules/storage-access.bicep' = {
  name: 'function-storage-access'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    principalId: functionIdentity.outputs.principalId
    accountRoles: ['StorageBlobDataOwner', 'StorageQueueDataContributor', 'StorageTableDataContributor']
  }
}

// Scanner: takes scan-requests (and parks failures in its poison queue), writes scan rows, and
// writes reports into the scan-reports container only.
module scannerStorageAccess 'modules/storage-access.bicep' = {
  name: 'scanner-storage-access'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    principalId: scannerIdentity.outputs.principalId
    accountRoles: ['StorageQueueDataContributor', 'StorageTableDataContributor']
    containerRoles: [{ containerName: blobContainers.scanReports, role: 'StorageBlobDataContributor' }]
  }
}

module newRegistry 'modules/registry.bicep' = if (createRegistry) {
  name: 'registry'
  scope: rg
  params: {
    name: registryName
    location: location
    tags: tags
    skuName: registrySku
    roleAssignmentMode: registryRoleAssignmentMode
  }
}

// Read, never deployed to: nothing in the registry's resource group is part of this deployment.
resource existingRegistry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
  scope: resourceGroup(registryResourceGroupName)
}

var registryLoginServer = createRegistry ? newRegistry!.outputs.loginServer : existingRegistry.properties.loginServer

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: functionIdentity.outputs.id
    identityClientId: functionIdentity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    maximumInstanceCount: functionMaximumInstanceCount
    instanceMemoryMB: functionInstanceMemoryMB
    registryLoginServers: registryLoginServer
    acrAudience: acrAudience
    unknownEvents: unknownEvents
    scanFreshness: scanFreshness
    retentionDebounce: retentionDebounce
    retentionPolicy: retentionPolicy
    retentionEnforce: retentionEnforce
    deleteCapPerRepository: deleteCapPerRepository
    deleteCapGlobal: deleteCapGlobal
    sweepSchedule: sweepSchedule
    webhookSecretKeyVaultSecretUri: webhookSecretKeyVaultSecretUri
  }
  // The host starts as soon as the app exists: let it find its storage roles in place.
  dependsOn: [functionStorageAccess]
}

// Registry roles and the Event Grid wiring. Deployed here only for a registry in our own resource
// group; for one elsewhere the postprovision hook deploys the same module (see registry-wiring.bicep).
module registryWiring 'modules/registry-wiring.bicep' = if (wireRegistryInTemplate) {
  name: 'registry-wiring'
  scope: rg
  params: {
    registryName: registryName
    storageAccountName: storage.outputs.name
    storageResourceGroupName: rg.name
    registryRoleAssignmentMode: registryRoleAssignmentMode
    functionPrincipalId: functionIdentity.outputs.principalId
    scannerPrincipalId: scannerIdentity.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    systemTopicName: systemTopicName
    eventsQueueName: queueNames.registryEvents
    deadLetterContainerName: blobContainers.eventsDeadLetter
    directFunctionAppName: enableDirectEventGridSubscription ? functionApp.outputs.name : ''
    directFunctionAppResourceGroupName: rg.name
    // Not azd-env-name: azd must never take the registry's resource group for one of its own.
    tags: { 'acr-steward-env': environmentName }
  }
}

module scanEventsTopic 'modules/scan-events-topic.bicep' = if (enableScanEventsTopic) {
  name: 'scan-events-topic'
  scope: rg
  params: {
    name: '${abbrs.eventGridTopics}scans-${resourceToken}'
    location: location
    tags: tags
    inputSchema: scanEventsSchema
    senderPrincipalId: scannerIdentity.outputs.principalId
  }
}

module containerAppsEnvironment 'modules/container-apps-environment.bicep' = {
  name: 'container-apps-environment'
  scope: rg
  params: {
    name: '${abbrs.appManagedEnvironments}${resourceToken}'
    location: location
    tags: tags
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsWorkspaceId
  }
}

module scanJob 'modules/scan-job.bicep' = {
  name: 'scan-job'
  scope: rg
  params: {
    name: '${abbrs.appContainerAppsJobs}scan-${resourceToken}'
    location: location
    tags: tags
    environmentId: containerAppsEnvironment.outputs.id
    identityId: scannerIdentity.outputs.id
    identityClientId: scannerIdentity.outputs.clientId
    imageRegistryLoginServer: registryLoginServer
    imageName: scannerImageName
    storageAccountName: storage.outputs.name
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    scanQueueName: queueNames.scanRequests
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    registryLoginServers: registryLoginServer
    acrAudience: acrAudience
    scanFreshness: scanFreshness
    trivyDbRepository: trivyDbRepository
    trivyTimeout: trivyTimeout
    scanEventsEndpoint: enableScanEventsTopic ? scanEventsTopic!.outputs.endpoint : ''
    scanEventsSchema: scanEventsSchema
    maxExecutions: scanJobMaxExecutions
  }
  // The first KEDA poll and image pull must find the roles in place.
  dependsOn: [scannerStorageAccess, registryWiring]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registryLoginServer
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_HOST string = functionApp.outputs.defaultHostName
output AZURE_FUNCTION_IDENTITY_CLIENT_ID string = functionIdentity.outputs.clientId
output AZURE_SCAN_JOB_NAME string = scanJob.outputs.name
output AZURE_FUNCTION_PRINCIPAL_ID string = functionIdentity.outputs.principalId
output AZURE_SCANNER_PRINCIPAL_ID string = scannerIdentity.outputs.principalId
// Read by infra/hooks/wire-registry.sh and unwire-registry.sh.
output ACR_STEWARD_REGISTRY_WIRING string = wireRegistryInTemplate ? 'template' : 'hook'
output ACR_STEWARD_REGISTRY_NAME string = registryName
output ACR_STEWARD_REGISTRY_RESOURCE_GROUP string = registryResourceGroupName
output ACR_STEWARD_REGISTRY_ROLE_MODE string = registryRoleAssignmentMode
output ACR_STEWARD_REGISTRY_SYSTEM_TOPIC string = systemTopicName
output ACR_STEWARD_EVENTS_QUEUE string = queueNames.registryEvents
output ACR_STEWARD_EVENTS_DEADLETTER_CONTAINER string = blobContainers.eventsDeadLetter
output ACR_STEWARD_DIRECT_EVENT_SUBSCRIPTION bool = enableDirectEventGridSubscription
output ACR_STEWARD_REGISTRIES string = registryLoginServer
output ACR_STEWARD_STORAGE_ACCOUNT string = storage.outputs.name
output ACR_STEWARD_STORAGE_QUEUE_SERVICE_URI string = storage.outputs.queueEndpoint
output ACR_STEWARD_STORAGE_TABLE_SERVICE_URI string = storage.outputs.tableEndpoint
output ACR_STEWARD_STORAGE_BLOB_SERVICE_URI string = storage.outputs.blobEndpoint
output ACR_STEWARD_SCAN_EVENTS_ENDPOINT string = enableScanEventsTopic ? scanEventsTopic!.outputs.endpoint : ''
