// Registry roles for one principal, scoped to the registry. Deployed into the registry's resource
// group, which may differ from acr-steward's own.

import { registryRoleName } from 'types.bicep'

param registryName string
param principalId string

@description('ServicePrincipal for managed identities; empty lets Azure work it out (people, CI principals).')
@allowed(['', 'ServicePrincipal', 'User', 'Group'])
param principalType string = 'ServicePrincipal'

param registryRoles registryRoleName[]

var roles = loadJsonContent('roles.json')

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

resource assignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in registryRoles: {
    name: guid(registry.id, principalId, roles[role])
    scope: registry
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles[role])
      principalId: principalId
      principalType: empty(principalType) ? null : principalType
    }
  }
]
