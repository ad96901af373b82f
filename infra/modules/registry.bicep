// A new container registry, for users who do not bring their own. Admin user and anonymous pull are
// off; Entra tokens with the ARM audience stay accepted because Trivy asks for that audience.

param name string
param location string
param tags object

@allowed(['Basic', 'Standard', 'Premium'])
param skuName string = 'Basic'

@description('LegacyRegistryPermissions honours AcrPull/AcrDelete; AbacRepositoryPermissions honours the repository roles only.')
@allowed(['LegacyRegistryPermissions', 'AbacRepositoryPermissions'])
param roleAssignmentMode string = 'LegacyRegistryPermissions'

resource registry 'Microsoft.ContainerRegistry/registries@2025-06-01-preview' = {
  name: name
  location: location
  tags: tags
  sku: { name: skuName }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    roleAssignmentMode: roleAssignmentMode
    policies: {
      azureADAuthenticationAsArmPolicy: { status: 'enabled' }
    }
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
