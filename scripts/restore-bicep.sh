#!/usr/bin/env bash
# Restores the Bicep CLI from the NuGet package Azure.Bicep.CommandLine.linux-x64 (no download from
# GitHub: NuGet is the only source CI and developers can reach), then compiles and lints every
# template under infra/. Fails on any compiler or linter warning, not only on errors.
#
# Output, all ignored by git:
#   .bicep-cli/bicep          stable path to the CLI (the tests look here, or in $BICEP_CLI)
#   .bicep-cli/restore/       throw-away project and package folder used by `dotnet restore`
#   .bicep-cli/build/         compiled ARM JSON of every template
#
# Environment:
#   BICEP_VERSION      package version to restore (default below; the feed serves 0.47.16, 0.48.1, 0.49.2)
#   BICEP_SKIP_CHECK=1 only restore, do not compile or lint
set -euo pipefail
cd "$(dirname "$0")/.."

version="${BICEP_VERSION:-0.49.2}"
package="Azure.Bicep.CommandLine.linux-x64"
root=".bicep-cli"
restore_dir="$root/restore"
packages_dir="$restore_dir/packages"
# NuGet lower-cases package folder names.
tool="$packages_dir/$(echo "$package" | tr '[:upper:]' '[:lower:]')/$version/tools/bicep"
link="$root/bicep"

git check-ignore -q "$root/" || {
  echo "restore-bicep: $root/ must be listed in .gitignore" >&2
  exit 2
}

# Single-file .NET apps unpack into $HOME unless told otherwise, and some machines lack ICU.
export DOTNET_BUNDLE_EXTRACT_BASE_DIR="${DOTNET_BUNDLE_EXTRACT_BASE_DIR:-$PWD/$root/extract}"
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT="${DOTNET_SYSTEM_GLOBALIZATION_INVARIANT:-1}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [ ! -f "$tool" ]; then
  command -v dotnet >/dev/null 2>&1 || {
    echo "restore-bicep: the .NET SDK (dotnet) is needed to restore $package" >&2
    exit 2
  }
  mkdir -p "$restore_dir"
  # A project that exists only to make NuGet fetch the package; nothing is built from it.
  cat >"$restore_dir/restore.csproj" <<EOF
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net$(dotnet --version | cut -d. -f1).0</TargetFramework>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="$package" Version="$version" />
  </ItemGroup>
</Project>
EOF
  echo "restore-bicep: restoring $package $version"
  dotnet restore "$restore_dir/restore.csproj" --packages "$packages_dir" --nologo -v quiet
  [ -f "$tool" ] || {
    echo "restore-bicep: the package did not contain $tool" >&2
    exit 2
  }
fi
# NuGet extraction does not always keep the execute bit.
chmod +x "$tool"
ln -sfn "restore/packages/$(echo "$package" | tr '[:upper:]' '[:lower:]')/$version/tools/bicep" "$link"
echo "restore-bicep: $("$link" --version) at $link"

[ "${BICEP_SKIP_CHECK:-}" = "1" ] && exit 0

# Compile main.bicep (which pulls in every module) and lint every template. The CLI prints
# diagnostics as `file(line,col) : Level CODE: text` and exits non-zero on errors only, so warnings
# are caught by reading its output. `lint` reports compiler diagnostics (BCP...) as well.
out_dir="$root/build"
rm -rf "$out_dir"
mkdir -p "$out_dir"
templates=$(find infra -name '*.bicep' -type f | wc -l)
if [ "$templates" -eq 0 ] || [ ! -f infra/main.bicep ]; then
  echo "restore-bicep: infra/main.bicep not found" >&2
  exit 1
fi
failed=0
check() {
  local what="$1" status=0 log
  shift
  log=$("$@" 2>&1) || status=$?
  if [ "$status" -ne 0 ] || grep -Eq ': (Warning|Error) ' <<<"$log"; then
    echo "restore-bicep: $what failed (exit $status):" >&2
    printf '%s\n' "$log" >&2
    failed=1
  fi
}
check "bicep build infra/main.bicep" "$link" build infra/main.bicep --outfile "$out_dir/main.json"
check "bicep lint infra/**/*.bicep" "$link" lint --pattern 'infra/**/*.bicep'

if [ "$failed" -ne 0 ]; then
  echo "restore-bicep: templates have errors or warnings (see above)" >&2
  exit 1
fi
echo "restore-bicep: $templates templates compiled and linted without warnings ($out_dir/main.json)"
