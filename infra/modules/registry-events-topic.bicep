// The Event Grid system topic of the registry. Its system-assigned identity delivers events to the
// storage queue and writes dead letters; a system-assigned identity (not a user-assigned one) is the
// kind Event Grid can still use if the storage account is later closed behind a firewall.
// Deployed into the registry's resource group.

param name string
param registryName string

@description('Region of the registry: a system topic lives where its source does.')
param location string

param tags object

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: { type: 'SystemAssigned' }
  properties: {
    source: registry.id
    topicType: 'Microsoft.ContainerRegistry.Registries'
  }
}

output name string = systemTopic.name
output principalId string = systemTopic.identity.principalId
