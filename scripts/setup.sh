#!/usr/bin/env bash
# Sets up a fresh Debian machine for acr-steward development and tests:
# the OCI tools the integration tests drive, and the npm dependencies (which also builds the CLI).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in skopeo umoci docker-registry; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "setup: installing ${need_apt[*]} with apt-get"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

echo "setup: npm ci"
npm ci --no-audit --no-fund

if [ "${ACR_STEWARD_SKIP_BICEP:-}" != "1" ] && command -v dotnet >/dev/null 2>&1; then
  bash scripts/restore-bicep.sh || echo "setup: Bicep CLI not restored; infrastructure tests will say they were skipped"
fi
echo "setup: done"
