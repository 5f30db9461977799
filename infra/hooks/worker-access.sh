#!/bin/sh
# Open (predeploy) or close (postdeploy) the worker's public network access around a deploy.
# The main site keeps denying everything through its access restrictions (default action Deny),
# so while open only the SCM endpoint, which requires an Entra ID token, is reachable.
# Lean deployments (TRADEBRIDGE_DEPLOY_WORKER=false / deploy_worker=false) have no worker: the
# template outputs WORKER_APP_NAME="" and azure.yaml's `condition` skips the service, so this
# only runs for a worker; the empty-name check stays first in case it is run by hand.
set -eu
action="${1:?open or close}"
case "$action" in
  open) value=Enabled ;;
  close) value=Disabled ;;
  *) echo "usage: $0 open|close" >&2; exit 2 ;;
esac
if [ -z "${WORKER_APP_NAME-}" ]; then
  echo "worker-access: no worker app (lean deployment); nothing to $action"
  exit 0
fi
: "${AZURE_RESOURCE_GROUP:?run through azd (azd env get-values), or export it}"
az webapp update --resource-group "$AZURE_RESOURCE_GROUP" --name "$WORKER_APP_NAME" \
  --set publicNetworkAccess="$value" --output none
echo "worker-access: public network access $value"
