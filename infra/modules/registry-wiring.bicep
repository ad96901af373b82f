// Everything acr-steward adds to the registry's resource group: the registry roles of its
// identities, the registry's Event Grid system topic and the subscriptions on it, plus (in
// acr-steward's own resource group) the topic identity's storage roles.
//
// main.bicep deploys this module itself only when the registry lives in acr-steward's resource
// group (a registry azd created). For a registry in another resource group, the azd postprovision
// hook (infra/hooks/wire-registry.sh) deploys it separately, so that no resource of that group ever
// appears in the azd deployment and `azd down`, which deletes every resource group holding resources
// of its deployment, never sees it.

import { registryRoleName } from 'types.bicep'

param registryName string

@description('acr-steward\'s storage account and the resource group it is in.')
param storageAccountName string
param storageResourceGroupName string

@allowed(['LegacyRegistryPermissions', 'AbacRepositoryPermissions'])
param registryRoleAssignmentMode string = 'LegacyRegistryPermissions'

@description('Principal id of the function app identity.')
param functionPrincipalId string

@description('Principal id of the scan job identity.')
param scannerPrincipalId string

@description('Object id of whoever runs azd, to get push rights; empty grants nothing.')
param deployerPrincipalId string = ''

@description('Name of the registry\'s system topic (an existing one is reused: a registry has at most one).')
param systemTopicName string

param eventsQueueName string
param deadLetterContainerName string

@description('Function app for the optional direct subscription to onRegistryEvent; empty for none.')
param directFunctionAppName string = ''
param directFunctionAppResourceGroupName string = ''

param tags object = {}

var useAbacRoles = registryRoleAssignmentMode == 'AbacRepositoryPermissions'

// Function app: reads manifests, lists repositories and deletes what retention decides.
var functionRoles registryRoleName[] = useAbacRoles
  ? ['ContainerRegistryRepositoryContributor', 'ContainerRegistryRepositoryCatalogLister']
  : ['AcrPull', 'AcrDelete']
// Scanner: pulls the images it scans and its own image.
var scannerRoles registryRoleName[] = useAbacRoles ? ['ContainerRegistryRepositoryReader'] : ['AcrPull']
// Whoever runs `azd deploy` pushes the scanner image.
var deployerRoles registryRoleName[] = useAbacRoles ? ['ContainerRegistryRepositoryWriter'] : ['AcrPush']

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

module functionRegistryAccess 'registry-access.bicep' = {
  name: 'function-registry-access'
  params: {
    registryName: registry.name
    principalId: functionPrincipalId
    registryRoles: functionRoles
  }
}

module scannerRegistryAccess 'registry-access.bicep' = {
  name: 'scanner-registry-access'
  params: {
    registryName: registry.name
    principalId: scannerPrincipalId
    registryRoles: scannerRoles
  }
}

module deployerRegistryAccess 'registry-access.bicep' = if (!empty(deployerPrincipalId)) {
  name: 'deployer-registry-access'
  params: {
    registryName: registry.name
    principalId: deployerPrincipalId
    principalType: ''
    registryRoles: deployerRoles
  }
}

module topic 'registry-events-topic.bicep' = {
  name: 'registry-events-topic'
  params: {
    name: systemTopicName
    registryName: registry.name
    location: registry.location
    tags: tags
  }
}

// The topic identity may only add messages to the events queue and write dead letters.
module topicStorageAccess 'storage-access.bicep' = {
  name: 'registry-events-topic-storage-access'
  scope: resourceGroup(storageResourceGroupName)
  params: {
    storageAccountName: storageAccountName
    principalId: topic.outputs.principalId
    queueRoles: [{ queueName: eventsQueueName, role: 'StorageQueueDataMessageSender' }]
    containerRoles: [{ containerName: deadLetterContainerName, role: 'StorageBlobDataContributor' }]
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName
  scope: resourceGroup(storageResourceGroupName)
}

module subscriptions 'registry-events-subscription.bicep' = {
  name: 'registry-events-subscriptions'
  params: {
    systemTopicName: topic.outputs.name
    storageAccountId: storage.id
    queueName: eventsQueueName
    deadLetterContainerName: deadLetterContainerName
    directFunctionAppName: directFunctionAppName
    directFunctionAppResourceGroupName: directFunctionAppResourceGroupName
  }
  // Event Grid checks its access to the destination when the subscription is created.
  dependsOn: [topicStorageAccess]
}

output systemTopicName string = topic.outputs.name
