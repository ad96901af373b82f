// Optional Event Grid custom topic for ScanCompleted events. Publishing needs an Entra token (local
// auth with access keys is disabled); only the scanner identity gets EventGrid Data Sender.

param name string
param location string
param tags object

@allowed(['CloudEventSchemaV1_0', 'EventGridSchema'])
param inputSchema string = 'EventGridSchema'

@description('Principal id of the scanner identity.')
param senderPrincipalId string

var roles = loadJsonContent('roles.json')

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  properties: {
    inputSchema: inputSchema
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    minimumTlsVersionAllowed: '1.2'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, senderPrincipalId, roles.EventGridDataSender)
  scope: topic
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.EventGridDataSender)
    principalId: senderPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output endpoint string = topic.properties.endpoint
output name string = topic.name
