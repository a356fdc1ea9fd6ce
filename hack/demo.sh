#!/usr/bin/env bash
# `make demo`: the seed's examples through the admission check, then both use cases
# enforced in a private OVN and verified with ovn-trace.
set -euo pipefail
cd "$(dirname "$0")/.."
MNP=.venv/bin/mnp
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

bold "Admission: mnp check on the seed's examples and broken variants"
set +e
$MNP check -f examples/seed -f examples/layer2 -f examples/localnet
$MNP check -f examples/layer2/ -f examples/invalid
set -e

lab=$(mktemp -d /tmp/mnp-demo.XXXXXX)
trap '$MNP lab down --dir "$lab" >/dev/null 2>&1 || true; rm -rf "$lab"' EXIT

for case in layer2 localnet; do
  bold "Use case: $case"
  echo "-- policies (examples/$case):"
  cat examples/$case/policies.yaml
  $MNP lab up --dir "$lab" -f examples/$case
  $MNP enforcer --ovn-nb "unix:$lab/nb.sock" --source files -f examples/$case --once
  echo "-- ACLs written by mnp (ovn-nbctl find ACL external_ids:\"mnp.k8s.cni.cncf.io/owner\"=mnp):"
  ovn-nbctl --db "unix:$lab/nb.sock" --format=table --columns=direction,priority,action,match \
    find ACL 'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp'
  echo "-- verified connectivity (ovn-trace), expected from the policy model beside it:"
  $MNP lab trace --dir "$lab" -f examples/$case
  $MNP lab down --dir "$lab"
done
