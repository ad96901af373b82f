// Reads what the rest of the deployment needs to know about the registry, new or existing.
// Deployed into the registry's resource group.

param registryName string

resource registry 'Microsoft.ContainerRegistry/registries@2025-04-01' existing = {
  name: registryName
}

output id string = registry.id
output location string = registry.location
output loginServer string = registry.properties.loginServer
