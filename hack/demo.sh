#!/usr/bin/env bash
# `make demo`: a local sandbox with a real kube-apiserver, both webhooks, the enforcer and a
# private OVN (`mnp lab up --kube`); then the seed's examples as a policy author meets them:
# a denial, an accepted policy with its defaults, the ACLs written, and the connectivity of
# both use cases verified with ovn-trace.
set -euo pipefail
cd "$(dirname "$0")/.."
MNP=$PWD/.venv/bin/mnp
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "$*"; "$@"; }

lab=$(mktemp -d /tmp/mnp-demo.XXXXXX)
trap '"$MNP" lab down --dir "$lab" >/dev/null 2>&1 || true; rm -rf "$lab"' EXIT

bold "Start the sandbox: etcd, kube-apiserver, webhooks, enforcer, OVN; apply the seed's examples"
"$MNP" lab up --dir "$lab" --kube -f examples/seed -f examples/layer2 -f examples/localnet
export KUBECONFIG=$lab/kubeconfig
KUBECTL=$(bash hack/build-kube-binaries.sh --print-bin-dir)/kubectl
k() { printf '\033[2m$ kubectl %s\033[0m\n' "$*" >&2; "$KUBECTL" "$@"; }

bold "A broken policy is denied (examples/invalid/endport-below-port.yaml)"
k apply -f examples/invalid/endport-below-port.yaml || true

bold "A policy without protocol or policyTypes is stored with NetworkPolicy's defaults"
cat examples/defaults/web-from-trusted.yaml | sed -n '/^apiVersion/,$p'
k apply -f examples/defaults/web-from-trusted.yaml
k get multi-policy -n default web-from-trusted -o json | "$PWD/.venv/bin/python" -c '
import json, sys, yaml
obj = json.load(sys.stdin)
policy_for = obj["metadata"]["annotations"]["k8s.v1.cni.cncf.io/policy-for"]
print(yaml.safe_dump({"metadata": {"annotations": {"k8s.v1.cni.cncf.io/policy-for": policy_for}},
                      "spec": obj["spec"]}, sort_keys=False), end="")'

bold "The seed's use cases: the policies"
for case in layer2 localnet; do
  printf '\033[2m# examples/%s/policies.yaml\033[0m\n' "$case"
  cat "examples/$case/policies.yaml"
  echo
done
k get multi-policy -A

bold "ACLs the enforcer wrote into OVN Northbound"
run ovn-nbctl --db "unix:$lab/nb.sock" --format=table --columns=name,direction,priority,action,match \
  find ACL 'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp'

bold "Who reaches whom, by ovn-trace (rows send, columns receive; . delivered, X dropped)"
echo "Flat layer2: VMC may send to VMA, VMA to VMB, VMC may not reach VMB."
echo "Localnet: only the VM reaches the database outside the cluster (192.168.200.250)."
"$MNP" lab trace --dir "$lab"

bold "Stop the sandbox"
"$MNP" lab down --dir "$lab"
