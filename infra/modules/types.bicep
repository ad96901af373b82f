// Role names used across the modules; their definition ids are in roles.json.

@export()
type storageRoleName =
  | 'StorageBlobDataOwner'
  | 'StorageBlobDataContributor'
  | 'StorageQueueDataContributor'
  | 'StorageQueueDataMessageSender'
  | 'StorageTableDataContributor'

@export()
type registryRoleName =
  | 'AcrPull'
  | 'AcrPush'
  | 'AcrDelete'
  | 'ContainerRegistryRepositoryReader'
  | 'ContainerRegistryRepositoryWriter'
  | 'ContainerRegistryRepositoryContributor'
  | 'ContainerRegistryRepositoryCatalogLister'
