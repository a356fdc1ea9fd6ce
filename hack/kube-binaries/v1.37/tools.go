//go:build tools

// Package tools records the command hack/build-kube-binaries.sh builds from
// this module, so that `go mod tidy` keeps its dependencies in go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
