// Package cmversion reports the cert-manager module version linked into a binary, so
// that --version cannot disagree with what was actually built.
package cmversion

import (
	"runtime/debug"

	"github.com/cert-manager/cert-manager/pkg/util"
)

const modulePath = "github.com/cert-manager/cert-manager"

// Linked returns the version of the cert-manager module in this binary's build info.
func Linked() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == modulePath {
			return dep.Version
		}
	}
	return "unknown"
}

// Stamp sets cert-manager's own version variable, which its clients put in their
// User-Agent, to the linked module version instead of "canary".
func Stamp() {
	util.AppVersion = Linked()
}
