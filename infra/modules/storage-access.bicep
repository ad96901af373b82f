// Data-plane roles for one principal on the storage account, scoped as narrowly as its work allows:
// the whole account, one queue, or one blob container.

import { storageRoleName } from 'types.bicep'

param storageAccountName string
param principalId string

@description('Roles on the whole account.')
param accountRoles storageRoleName[] = []

@description('Roles on single queues.')
param queueRoles { queueName: string, role: storageRoleName }[] = []

@description('Roles on single blob containers.')
param containerRoles { containerName: string, role: storageRoleName }[] = []

var roles = loadJsonContent('roles.json')

resource storage 'Microsoft.Storage/storageAccounts@2025-01-01' existing = {
  name: storageAccountName

  resource queueService 'queueServices' existing = {
    name: 'default'
  }

  resource blobService 'blobServices' existing = {
    name: 'default'
  }
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2025-01-01' existing = [
  for grant in queueRoles: {
    parent: storage::queueService
    name: grant.queueName
  }
]

resource containers 'Microsoft.Storage/storageAccounts/blobServices/containers@2025-01-01' existing = [
  for grant in containerRoles: {
    parent: storage::blobService
    name: grant.containerName
  }
]

resource accountAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in accountRoles: {
    name: guid(storage.id, principalId, roles[role])
    scope: storage
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[role])
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource queueAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (grant, i) in queueRoles: {
    name: guid(queues[i].id, principalId, roles[grant.role])
    scope: queues[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[grant.role])
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]

resource containerAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (grant, i) in containerRoles: {
    name: guid(containers[i].id, principalId, roles[grant.role])
    scope: containers[i]
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[grant.role])
      principalId: principalId
      principalType: 'ServicePrincipal'
    }
  }
]
