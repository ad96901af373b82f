// The Trivy scan worker as an event-driven Container Apps job. KEDA's azure-queue scaler watches the
// scan-requests queue with the job's identity (rule-level identity needs Microsoft.App 2025-01-01 or
// newer) and starts executions while messages wait; each execution drains messages and exits.

param name string
param location string
param tags object
param environmentId string

@description('Resource id of the user-assigned identity the job runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Login server of the registry the scanner image is pulled from, with the job identity.')
param imageRegistryLoginServer string

@description('Scanner image; empty runs a placeholder until `azd deploy` pushes scanner/Dockerfile.')
param imageName string = ''

param storageAccountName string
param storageBlobEndpoint string
param storageQueueEndpoint string
param storageTableEndpoint string
param scanQueueName string

param applicationInsightsName string

@description('Allow-list of registry login servers (ACR_STEWARD_REGISTRIES).')
param registryLoginServers string

param acrAudience string
param scanFreshness string
param trivyDbRepository string
param trivyTimeout string

@description('Endpoint of the ScanCompleted custom topic; empty when there is none.')
param scanEventsEndpoint string = ''

@description('Input schema of that topic; the worker publishes in the same schema.')
@allowed(['CloudEventSchemaV1_0', 'EventGridSchema'])
param scanEventsSchema string = 'EventGridSchema'

@description('Longest one execution may run, in seconds (image pull, DB refresh and the scans of one batch).')
@minValue(300)
@maxValue(86400)
param replicaTimeoutSeconds int = 3600

@minValue(1)
@maxValue(100)
param maxExecutions int = 10

@description('Messages waiting per execution before another one starts.')
@minValue(1)
param messagesPerExecution int = 5

// A public sample job image that exits on its own, so queue-triggered runs of the placeholder end quickly.
var placeholderImage = 'mcr.microsoft.com/k8se/quickstart-jobs:latest'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource job 'Microsoft.App/jobs@2025-07-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'scanner' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Event'
      replicaTimeout: replicaTimeoutSeconds
      replicaRetryLimit: 1
      registries: [
        {
          server: imageRegistryLoginServer
          identity: identityId
        }
      ]
      eventTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
        scale: {
          minExecutions: 0
          maxExecutions: maxExecutions
          pollingInterval: 30
          rules: [
            {
              name: 'scan-requests'
              type: 'azure-queue'
              identity: identityId
              metadata: {
                accountName: storageAccountName
                queueName: scanQueueName
                queueLength: string(messagesPerExecution)
              }
            }
          ]
        }
      }
    }
    template: {
      containers: [
        {
          name: 'scanner'
          image: empty(imageName) ? placeholderImage : imageName
          // The worker must publish ScanCompleted in the schema the topic accepts; the placeholder
          // image keeps its own command.
          command: empty(imageName)
            ? null
            : [
                'node'
                'dist/scanner/main.js'
                '--events-schema'
                scanEventsSchema == 'CloudEventSchemaV1_0' ? 'CloudEvent' : 'EventGrid'
              ]
          resources: {
            cpu: json('1.0')
            memory: '2Gi'
          }
          env: [
            { name: 'AZURE_CLIENT_ID', value: identityClientId }
            { name: 'ACR_STEWARD_REGISTRIES', value: registryLoginServers }
            { name: 'ACR_STEWARD_STORAGE__credential', value: 'managedidentity' }
            { name: 'ACR_STEWARD_STORAGE__clientId', value: identityClientId }
            { name: 'ACR_STEWARD_STORAGE__queueServiceUri', value: storageQueueEndpoint }
            { name: 'ACR_STEWARD_STORAGE__tableServiceUri', value: storageTableEndpoint }
            { name: 'ACR_STEWARD_STORAGE__blobServiceUri', value: storageBlobEndpoint }
            { name: 'ACR_STEWARD_ACR_AUDIENCE', value: acrAudience }
            { name: 'ACR_STEWARD_SCAN_FRESHNESS', value: scanFreshness }
            { name: 'ACR_STEWARD_SCAN_EVENTS_ENDPOINT', value: scanEventsEndpoint }
            { name: 'ACR_STEWARD_TRIVY_DB_REPOSITORY', value: trivyDbRepository }
            { name: 'ACR_STEWARD_TRIVY_TIMEOUT', value: trivyTimeout }
            { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsights.properties.ConnectionString }
            { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identityClientId};Authorization=AAD' }
          ]
        }
      ]
    }
  }
}

output name string = job.name
