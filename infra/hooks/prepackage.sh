#!/bin/sh
# Check that the committed requirements.txt is what uv.lock exports (runtime dependencies only);
# fail, naming the command that fixes it, when it is stale. It never rewrites the file: the
# deploy ships the committed requirements.txt (the Functions remote build and App Service's Oryx
# build install it), so CI, `azd deploy` and `func` all see the same one. azd runs this as the
# project `prepackage` hook, which fires for `azd package` and `azd up` but not for `azd deploy`
# (command hooks are keyed on the command: Azure/azure-dev cli/azd/cmd/middleware/hooks.go;
# https://learn.microsoft.com/azure/developer/azure-developer-cli/azd-extensibility), so
# .github/workflows/deploy.yml runs it itself before `azd deploy`. Only uv is needed here.
set -eu
cd "$(dirname "$0")/../.."
scripts/ensure-uv
# Export in a scratch copy of pyproject.toml + uv.lock with the very same command line, because
# uv writes the command (including the -o path) into the file's header.
uv="$PWD/.tools/uv/bin/uv"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp pyproject.toml uv.lock "$tmp/"
(cd "$tmp" && UV_PYTHON_DOWNLOADS=never "$uv" export --frozen --no-dev --no-hashes \
  --no-emit-project --quiet -o requirements.txt)
if ! cmp -s "$tmp/requirements.txt" requirements.txt; then
  echo "prepackage: requirements.txt is stale or missing; regenerate and commit it:" >&2
  echo "  .tools/uv/bin/uv export --frozen --no-dev --no-hashes --no-emit-project -o requirements.txt" >&2
  exit 1
fi
echo "prepackage: requirements.txt matches uv.lock"
