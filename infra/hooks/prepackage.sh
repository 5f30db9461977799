#!/bin/sh
# azd prepackage: export requirements.txt from uv.lock (runtime dependencies only) for the
# Functions remote build and App Service's Oryx build. Only uv is needed here, not the rest
# of what scripts/bootstrap installs for the local stack.
set -eu
cd "$(dirname "$0")/../.."
scripts/ensure-uv
.tools/uv/bin/uv export --frozen --no-dev --no-hashes --no-emit-project -o requirements.txt >/dev/null
echo "prepackage: wrote requirements.txt from uv.lock"
