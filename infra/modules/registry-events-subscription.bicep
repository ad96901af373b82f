// Subscriptions on the registry's system topic. The primary one delivers ImagePushed/ImageDeleted to
// the registry-events storage queue with the topic's own identity: no keys, and nothing depends on
// the function code being deployed, so one `azd provision` sets it up. Undeliverable events are
// dead-lettered to a blob container, also with the topic's identity.
// The optional direct subscription targets the onRegistryEvent function; it can only be created once
// that function exists (after the first `azd deploy`).

param systemTopicName string

@description('Resource id of the storage account holding the queue and the dead-letter container.')
param storageAccountId string

param queueName string
param deadLetterContainerName string

@description('Attempts before an event is dead-lettered (1-30).')
@minValue(1)
@maxValue(30)
param maxDeliveryAttempts int = 30

@description('Minutes Event Grid keeps retrying an event (1-1440).')
@minValue(1)
@maxValue(1440)
param eventTimeToLiveInMinutes int = 1440

@description('Name of the function app for the direct subscription; empty for none.')
param directFunctionAppName string = ''

@description('Resource group of that function app.')
param directFunctionAppResourceGroupName string = ''

@description('Name of the Event Grid trigger function for the direct subscription.')
param directFunctionName string = 'onRegistryEvent'

var includedEventTypes = [
  'Microsoft.ContainerRegistry.ImagePushed'
  'Microsoft.ContainerRegistry.ImageDeleted'
]

var retryPolicy = {
  maxDeliveryAttempts: maxDeliveryAttempts
  eventTimeToLiveInMinutes: eventTimeToLiveInMinutes
}

var deadLetterWithResourceIdentity = {
  identity: { type: 'SystemAssigned' }
  deadLetterDestination: {
    endpointType: 'StorageBlob'
    properties: {
      resourceId: storageAccountId
      blobContainerName: deadLetterContainerName
    }
  }
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource toQueue 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: systemTopic
  name: 'registry-events-to-queue'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: { includedEventTypes: includedEventTypes }
    deliveryWithResourceIdentity: {
      identity: { type: 'SystemAssigned' }
      destination: {
        endpointType: 'StorageQueue'
        properties: {
          resourceId: storageAccountId
          queueName: queueName
          // -1: messages never expire, so an event waiting out a long outage is not lost.
          queueMessageTimeToLiveInSeconds: -1
        }
      }
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetterWithResourceIdentity
  }
}

resource toFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = if (!empty(directFunctionAppName)) {
  parent: systemTopic
  name: 'registry-events-to-function'
  properties: {
    eventDeliverySchema: 'EventGridSchema'
    filter: { includedEventTypes: includedEventTypes }
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: resourceId(
          directFunctionAppResourceGroupName,
          'Microsoft.Web/sites/functions',
          directFunctionAppName,
          directFunctionName
        )
        maxEventsPerBatch: 1
      }
    }
    retryPolicy: retryPolicy
    deadLetterWithResourceIdentity: deadLetterWithResourceIdentity
  }
}

output queueSubscriptionName string = toQueue.name
