package source1c_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/engine"
	"github.com/virtsync/virtsync/internal/onecapi"
	"github.com/virtsync/virtsync/internal/onecapi/onectest"
	"github.com/virtsync/virtsync/sources/source1c"
)

// TestGroupsReadAtAnyDepth: buyers told apart by folder (a configuration
// without a buyer flag) are the items under the folders named, and under
// their sub-folders, never the folders themselves nor items elsewhere.
func TestGroupsReadAtAnyDepth(t *testing.T) {
	fake, base := onectest.StartTest(t, onectest.Options{User: "u", Password: "p", Profile: onectest.ProfileUNF}, onectest.Seed{})
	c, err := onecapi.New(onecapi.Config{BaseURL: base, User: "u", Password: "p", PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	set := onectest.SetUNFBuyers
	put := func(o onectest.Object) string {
		t.Helper()
		got, err := fake.Put(set, o)
		if err != nil {
			t.Fatal(err)
		}
		return got["Ref_Key"].(string)
	}
	retail := put(onectest.Object{"Description": "Розница", "IsFolder": true})
	city := put(onectest.Object{"Description": "Екатеринбург", "IsFolder": true, "Parent_Key": retail})
	other := put(onectest.Object{"Description": "Поставщики", "IsFolder": true})
	want := []string{
		put(onectest.Object{"Description": "Иванов", "Parent_Key": retail}),
		put(onectest.Object{"Description": "Петров", "Parent_Key": city}),
	}
	put(onectest.Object{"Description": "ООО Поставка", "Parent_Key": other})
	put(onectest.Object{"Description": "Без группы"})

	scan := func(groups ...string) ([]string, error) {
		src := &source1c.Entities{Client: c, Entity: set, Groups: groups, Select: []string{"Ref_Key", "DataVersion", "DeletionMark", "Description"}}
		var got []string
		_, err := src.Scan(context.Background(), engine.NewKnownMap(nil, false), func(r engine.Record) error {
			got = append(got, r.Key)
			return nil
		})
		slices.Sort(got)
		return got, err
	}
	got, err := scan(retail)
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("groups [Розница] = %v, %v; want %v", got, err, want)
	}
	if got, err := scan(city); err != nil || len(got) != 1 {
		t.Fatalf("groups [Екатеринбург] = %v, %v", got, err)
	}
	if _, err := scan(want[0]); err == nil || !strings.Contains(err.Error(), "is not a folder of "+set) {
		t.Fatalf("an item named as a group: %v", err)
	}
}
