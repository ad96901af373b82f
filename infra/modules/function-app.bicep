// The function app on the Flex Consumption plan (FC1), Node 22, running as a user-assigned identity:
// host storage, the ACR_STEWARD_STORAGE connection, the deployment package and telemetry all
// authenticate with that identity. App settings are the complete list the app reads
// (shared/config/settings.ts); a provision replaces settings set by hand, so change them here.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string

@description('Blob container that holds the deployment package.')
param deploymentContainerName string

param applicationInsightsName string

@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Allow-list of registry login servers (ACR_STEWARD_REGISTRIES).')
param registryLoginServers string

param acrAudience string
param unknownEvents string
param scanFreshness string
param retentionDebounce string
param retentionPolicy string
param retentionEnforce bool
param deleteCapPerRepository int
param deleteCapGlobal int
param sweepSchedule string

@description('Key Vault secret URI (https://<vault>.vault.azure.net/secrets/<name>) of ACR_STEWARD_WEBHOOK_SECRET; empty leaves the setting out, which refuses native ACR webhooks.')
param webhookSecretKeyVaultSecretUri string = ''

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-11-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-11-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageBlobEndpoint}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
  }
}

// Deployments authenticate with Entra ID (azd, Core Tools); publishing user names and passwords stay off.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'ftp'
  properties: { allow: false }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-11-01' = {
  parent: site
  name: 'scm'
  properties: { allow: false }
}

// Every value here comes from parameters; the telemetry and secret settings are added below.
var appSettings = {
  // Functions host storage (timer locks, deployment) with the identity; no connection string.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageBlobEndpoint
  // The app's own connection: queue triggers and the table/queue/blob clients.
  ACR_STEWARD_STORAGE__credential: 'managedidentity'
  ACR_STEWARD_STORAGE__clientId: identityClientId
  ACR_STEWARD_STORAGE__queueServiceUri: storageQueueEndpoint
  ACR_STEWARD_STORAGE__tableServiceUri: storageTableEndpoint
  ACR_STEWARD_STORAGE__blobServiceUri: storageBlobEndpoint
  AZURE_CLIENT_ID: identityClientId
  ACR_STEWARD_REGISTRIES: registryLoginServers
  ACR_STEWARD_ACR_AUDIENCE: acrAudience
  ACR_STEWARD_UNKNOWN_EVENTS: unknownEvents
  ACR_STEWARD_SCAN_FRESHNESS: scanFreshness
  ACR_STEWARD_RETENTION_DEBOUNCE: retentionDebounce
  ACR_STEWARD_RETENTION_POLICY: retentionPolicy
  ACR_STEWARD_RETENTION_ENFORCE: retentionEnforce ? 'true' : 'false'
  ACR_STEWARD_DELETE_CAP_PER_REPOSITORY: string(deleteCapPerRepository)
  ACR_STEWARD_DELETE_CAP_GLOBAL: string(deleteCapGlobal)
  ACR_STEWARD_SWEEP_SCHEDULE: sweepSchedule
  // Telemetry only with an Entra token: local auth is disabled on the component.
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
}

// The secret itself never passes through the template: the platform resolves the Key Vault
// reference with the app's identity (which needs Key Vault Secrets User on that secret).
var webhookSecretSetting = empty(webhookSecretKeyVaultSecretUri)
  ? {}
  : { ACR_STEWARD_WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${webhookSecretKeyVaultSecretUri})' }

resource settings 'Microsoft.Web/sites/config@2024-11-01' = {
  parent: site
  name: 'appsettings'
  properties: union(
    appSettings,
    { APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString },
    webhookSecretSetting
  )
}

output id string = site.id
output name string = site.name
output defaultHostName string = site.properties.defaultHostName
