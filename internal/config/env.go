package config

import (
	"slices"
	"strings"
)

// ownVariables are the variables a virtsync process reads unless its
// config says otherwise: the config path and the secrets the shipped
// configs name.
var ownVariables = []string{EnvPath, "VIRTPOS_APIKEY", "ONEC_USER", "ONEC_PASSWORD"}

// WithoutOwnVariables returns environ (KEY=value lines) less the variables
// virtsync reads, for a tool that runs virtsync on a config of its own
// (the demo, the chaos suite) and must not let the caller's real key or
// config path leak into it.
func WithoutOwnVariables(environ []string) []string {
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(ownVariables, name) {
			out = append(out, kv)
		}
	}
	return out
}
