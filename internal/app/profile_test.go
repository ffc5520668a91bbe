package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/internal/config"
	"github.com/virtsync/virtsync/mapping"
)

// TestProfileBuyersOverrides: how the onec.customers keys of the config
// combine with the profile's way of telling buyers apart.
func TestProfileBuyersOverrides(t *testing.T) {
	const g1, g2 = "11111111-2222-3333-4444-555555555555", "66666666-7777-4888-9999-000000000000"
	text, err := os.ReadFile("../../configs/profiles/unf.yaml")
	if err != nil {
		t.Fatal(err)
	}
	byGroups := filepath.Join(t.TempDir(), "by-groups.yaml")
	own := strings.Replace(string(text), "  buyers: filter\n  filter: Покупатель eq true and IsFolder eq false\n",
		"  buyers: groups\n  groups: ["+g1+"]\n", 1)
	if err := os.WriteFile(byGroups, []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		oc      config.CustomersConfig
		profile string
		buyers  string
		filter  string
		groups  []string
	}{
		{name: "the profile's way", profile: "ut11", buyers: mapping.BuyersFilter, filter: "Клиент eq true"},
		{name: "a filter replaces the profile's", profile: "ut11", oc: config.CustomersConfig{Filter: "Клиент eq true and Поставщик eq false"},
			buyers: mapping.BuyersFilter, filter: "Клиент eq true and Поставщик eq false"},
		{name: "groups on a filter profile drop its filter", profile: "ut11", oc: config.CustomersConfig{Groups: []string{g1}},
			buyers: mapping.BuyersGroups, groups: []string{g1}},
		{name: "groups with a filter of the config narrow", profile: "ut11",
			oc:     config.CustomersConfig{Buyers: mapping.BuyersGroups, Groups: []string{g1}, Filter: "Клиент eq true"},
			buyers: mapping.BuyersGroups, groups: []string{g1}, filter: "Клиент eq true"},
		{name: "all drops the profile's filter", profile: "ut11", oc: config.CustomersConfig{Buyers: mapping.BuyersAll},
			buyers: mapping.BuyersAll},
		{name: "a filter alone narrows a groups profile", profile: byGroups, oc: config.CustomersConfig{Filter: "Покупатель eq true"},
			buyers: mapping.BuyersGroups, groups: []string{g1}, filter: "Покупатель eq true"},
		{name: "groups replace a groups profile's", profile: byGroups, oc: config.CustomersConfig{Groups: []string{g2}},
			buyers: mapping.BuyersGroups, groups: []string{g2}},
		{name: "filter as the way on a groups profile drops its groups", profile: byGroups,
			oc:     config.CustomersConfig{Buyers: mapping.BuyersFilter, Filter: "Покупатель eq true"},
			buyers: mapping.BuyersFilter, filter: "Покупатель eq true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oc := config.Default().OneC
			oc.Profile, oc.Customers = tt.profile, tt.oc
			oc.Customers.OnDelete = config.OnDeleteIgnore
			c, err := Profile(oc)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Profile.Customers
			if got.Buyers != tt.buyers || got.Filter != tt.filter || !slices.Equal(got.Groups, tt.groups) {
				t.Fatalf("buyers %q filter %q groups %v; want %q %q %v", got.Buyers, got.Filter, got.Groups, tt.buyers, tt.filter, tt.groups)
			}
		})
	}
}
