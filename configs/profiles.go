// Package configs holds the files virtsync ships besides the binary's
// code: the 1C profiles (profiles/*.yaml) are embedded so that
// `onec.profile: unf` needs no file on disk.
package configs

import (
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

//go:embed profiles/*.yaml
var profiles embed.FS

// Profile returns the YAML text of a shipped profile.
func Profile(name string) ([]byte, error) {
	b, err := profiles.ReadFile("profiles/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no shipped profile %q (shipped: %s)", name, strings.Join(ProfileNames(), ", "))
	}
	return b, nil
}

// ProfileNames lists the shipped profiles, sorted.
func ProfileNames() []string {
	entries, _ := fs.ReadDir(profiles, "profiles")
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
