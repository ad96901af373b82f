#!/bin/sh
# azd predown hook: removes what wire-registry.sh added to the registry's resource group, and only
# that: our event subscriptions, the system topic if this environment created it and nothing else
# subscribes to it, and the registry role assignments of our two identities. The registry itself
# and its images are never touched.
set -eu

if [ "${ACR_STEWARD_REGISTRY_WIRING:-template}" != "hook" ]; then
  exit 0 # wired by main.bicep inside acr-steward's own resource group, which azd down deletes
fi
if ! command -v az >/dev/null 2>&1; then
  echo "unwire-registry: the Azure CLI (az) is needed to remove acr-steward's subscriptions and roles from" \
    "$ACR_STEWARD_REGISTRY_RESOURCE_GROUP; install it and run 'az login' (or remove them by hand, docs/deploy.md)." >&2
  exit 1
fi

sub="$AZURE_SUBSCRIPTION_ID"
rg="$ACR_STEWARD_REGISTRY_RESOURCE_GROUP"
topic="$ACR_STEWARD_REGISTRY_SYSTEM_TOPIC"

for name in registry-events-to-queue registry-events-to-function; do
  az eventgrid system-topic event-subscription delete --subscription "$sub" --resource-group "$rg" \
    --system-topic-name "$topic" --name "$name" --yes --only-show-errors 2>/dev/null || true
done

owner=$(az eventgrid system-topic show --subscription "$sub" --resource-group "$rg" --name "$topic" \
  --query 'tags."acr-steward-env"' --output tsv 2>/dev/null || true)
others=$(az eventgrid system-topic event-subscription list --subscription "$sub" --resource-group "$rg" \
  --system-topic-name "$topic" --query 'length(@)' --output tsv 2>/dev/null || echo unknown)
if [ "$owner" = "$AZURE_ENV_NAME" ] && [ "$others" = "0" ]; then
  az eventgrid system-topic delete --subscription "$sub" --resource-group "$rg" --name "$topic" --yes --only-show-errors
else
  echo "unwire-registry: keeping system topic $topic (not created by $AZURE_ENV_NAME, or still in use)"
fi

registry_id=$(az acr show --subscription "$sub" --resource-group "$rg" --name "$ACR_STEWARD_REGISTRY_NAME" \
  --query id --output tsv)
for principal in "$AZURE_FUNCTION_PRINCIPAL_ID" "$AZURE_SCANNER_PRINCIPAL_ID"; do
  az role assignment delete --subscription "$sub" --assignee "$principal" --scope "$registry_id" \
    --only-show-errors || true
done
az deployment group delete --subscription "$sub" --resource-group "$rg" \
  --name "acr-steward-wiring-$AZURE_ENV_NAME" --only-show-errors 2>/dev/null || true
echo "unwire-registry: done"
