#!/bin/sh
# Open (predeploy) or close (postdeploy) the worker's public network access around a deploy.
# The main site keeps denying everything through its access restrictions (default action Deny),
# so while open only the SCM endpoint, which requires an Entra ID token, is reachable.
set -eu
action="${1:?open or close}"
: "${AZURE_RESOURCE_GROUP:?run through azd}" "${WORKER_APP_NAME:?run through azd}"
[ -n "$WORKER_APP_NAME" ] || { echo "worker not deployed (lean option)"; exit 0; }
case "$action" in
  open) value=Enabled ;;
  close) value=Disabled ;;
  *) echo "usage: $0 open|close" >&2; exit 2 ;;
esac
az webapp update --resource-group "$AZURE_RESOURCE_GROUP" --name "$WORKER_APP_NAME" \
  --set publicNetworkAccess="$value" --output none
echo "worker-access: public network access $value"
