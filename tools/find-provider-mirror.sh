#!/bin/sh
# Print the Terraform provider filesystem mirror to use (the directory above registry.terraform.io/),
# or nothing. TF_PLUGIN_MIRROR, when set, wins and nothing is scanned. Otherwise the disk is searched
# once, for a directory holding hashicorp/aws: only the make recipes that run Terraform from Python
# (the tests, `make plan EMULATOR=1`) call this, never `make help` or `make synth`.
set -eu
if [ -n "${TF_PLUGIN_MIRROR:-}" ]; then
    printf '%s\n' "$TF_PLUGIN_MIRROR"
    exit 0
fi
find / -maxdepth 5 -type d -path '*/registry.terraform.io/hashicorp/aws' -not -path '/proc/*' 2>/dev/null \
    | head -n 1 | sed 's|/registry.terraform.io/hashicorp/aws$||'
