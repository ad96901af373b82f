#!/bin/sh
# azd postprovision hook: wires a registry that lives in ANOTHER resource group (registry roles for
# the app and scanner identities, the registry's Event Grid system topic and its subscriptions).
# main.bicep leaves that resource group alone on purpose: `azd down` deletes every resource group
# that holds resources of the azd deployment, and the registry's group must never be one of them.
# Re-running is safe (the deployment is idempotent): `azd hooks run postprovision`.
set -eu
cd "$(dirname "$0")/../.."

if [ "${ACR_STEWARD_REGISTRY_WIRING:-template}" != "hook" ]; then
  exit 0 # the registry is in acr-steward's own resource group: main.bicep wired it
fi
if ! command -v az >/dev/null 2>&1; then
  echo "wire-registry: the Azure CLI (az) is needed to wire registry $ACR_STEWARD_REGISTRY_NAME in resource group" \
    "$ACR_STEWARD_REGISTRY_RESOURCE_GROUP. Install it, run 'az login', then 'azd hooks run postprovision'." >&2
  exit 1
fi

direct_app=""
if [ "${ACR_STEWARD_DIRECT_EVENT_SUBSCRIPTION:-false}" = "true" ]; then
  direct_app="$AZURE_FUNCTION_APP_NAME"
fi

echo "wire-registry: wiring $ACR_STEWARD_REGISTRY_NAME in $ACR_STEWARD_REGISTRY_RESOURCE_GROUP"
az deployment group create \
  --subscription "$AZURE_SUBSCRIPTION_ID" \
  --resource-group "$ACR_STEWARD_REGISTRY_RESOURCE_GROUP" \
  --name "acr-steward-wiring-$AZURE_ENV_NAME" \
  --template-file infra/modules/registry-wiring.bicep \
  --parameters \
  registryName="$ACR_STEWARD_REGISTRY_NAME" \
  storageAccountName="$ACR_STEWARD_STORAGE_ACCOUNT" \
  storageResourceGroupName="$AZURE_RESOURCE_GROUP" \
  registryRoleAssignmentMode="$ACR_STEWARD_REGISTRY_ROLE_MODE" \
  functionPrincipalId="$AZURE_FUNCTION_PRINCIPAL_ID" \
  scannerPrincipalId="$AZURE_SCANNER_PRINCIPAL_ID" \
  systemTopicName="$ACR_STEWARD_REGISTRY_SYSTEM_TOPIC" \
  eventsQueueName="$ACR_STEWARD_EVENTS_QUEUE" \
  deadLetterContainerName="$ACR_STEWARD_EVENTS_DEADLETTER_CONTAINER" \
  directFunctionAppName="$direct_app" \
  directFunctionAppResourceGroupName="$AZURE_RESOURCE_GROUP" \
  tags="{\"acr-steward-env\":\"$AZURE_ENV_NAME\"}" \
  --only-show-errors --output none
echo "wire-registry: done"
