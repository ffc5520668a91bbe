package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// loadRecord decodes a fixture the way the OData reader does (UseNumber).
func loadRecord(t *testing.T, name string) Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var rec Record
	if err := dec.Decode(&rec); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return rec
}

// kindsLookup serves Catalog_ВидыКартЛояльности from the fixture collection.
func kindsLookup(t *testing.T) fakeLookup {
	t.Helper()
	coll := loadRecord(t, "card_kinds.json")
	l := fakeLookup{"Catalog_ВидыКартЛояльности": {}}
	for _, v := range coll["value"].([]any) {
		k := v.(map[string]any)
		l["Catalog_ВидыКартЛояльности"][k["Ref_Key"].(string)] = k
	}
	return l
}

func mustProfile(t *testing.T) *Profile {
	t.Helper()
	p, err := LoadProfile("")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestUT11Customers(t *testing.T) {
	p := mustProfile(t)
	if p.Customers.Entity != "Catalog_Партнеры" || p.Customers.Buyers != BuyersFilter || p.Customers.Filter != "Клиент eq true" {
		t.Fatalf("customers entity/filter = %q/%q", p.Customers.Entity, p.Customers.Filter)
	}
	m, err := Compile(p.Customers.Fields)
	if err != nil {
		t.Fatalf("compile ut11 customers: %v", err)
	}
	cases := []struct {
		fixture string
		want    Params
	}{
		{fixture: "partner_full.json", want: Params{
			"lname": "Иванова", "fname": "Мария", "mname": "Петровна",
			"email":     "maria.ivanova@example.ru",
			"phone":     "+79123456789",
			"gender":    "F",
			"birth_day": "9", "birth_month": "3", "birth_year": "1987",
		}},
		// One word of name, no gender, empty birth date, phone only in
		// Представление, e-mail only in Представление with a Cyrillic domain.
		{fixture: "partner_sparse.json", want: Params{
			"lname": "Петров",
			"email": "петров@почта.рф",
			"phone": "+73432223344",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			got, err := m.Apply(loadRecord(t, tc.fixture), fakeResolver{})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestUT11Cards(t *testing.T) {
	p := mustProfile(t)
	if p.Cards.Entity != "Catalog_КартыЛояльности" {
		t.Fatalf("cards entity = %q", p.Cards.Entity)
	}
	c, err := p.Compile()
	if err != nil {
		t.Fatalf("compile ut11: %v", err)
	}
	m := c.Cards
	if got, want := m.Lookups(), []LookupField{{"Catalog_ВидыКартЛояльности", "Description"}, {"Catalog_ВидыКартЛояльности", "ТипКарты"}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Lookups = %v, want %v", got, want)
	}
	kinds := kindsLookup(t)
	known := fakeResolver{ids: map[string]string{"customer/3f2a9c1e-5b7d-11ef-8e2a-001dd8b71c2f": "1042"}}
	cases := []struct {
		name    string
		fixture string
		r       fakeResolver
		want    Params
	}{
		{name: "barcode card of a synced customer", fixture: "card_barcode.json", r: known, want: Params{"uid": "2900000000428", "status": "ACTIVE",
			"medium": "PLASTIC", "type_name": "Дисконтная 5%", "customer_id": "1042"}},
		{name: "customer not in id map yet", fixture: "card_barcode.json", r: fakeResolver{}, want: Params{"uid": "2900000000428", "status": "ACTIVE",
			"medium": "PLASTIC", "type_name": "Дисконтная 5%", "customer_external_id": "3f2a9c1e-5b7d-11ef-8e2a-001dd8b71c2f"}},
		{name: "magnetic blocked card without owner", fixture: "card_magnetic.json", r: known, want: Params{"uid": ";777001?", "status": "BLOCKED",
			"medium": "MAGNET", "type_name": "Магнитная VIP"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.Apply(loadRecord(t, tc.fixture), both{tc.r, kinds})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestProfileNames(t *testing.T) {
	cases := []struct {
		ref     string
		name    string
		errText string
	}{
		{ref: "ut11", name: ProfileUT11},
		{ref: "", name: ProfileUT11},
		{ref: "roznica", name: ProfileRoznica},
		{ref: "unf", name: ProfileUNF},
		{ref: "ut10", errText: `no shipped profile "ut10" (shipped: roznica, unf, ut11)`},
		{ref: "./testdata/no-such-profile.yaml", errText: "no such file"},
	}
	for _, tc := range cases {
		t.Run("profile "+tc.ref, func(t *testing.T) {
			p, err := LoadProfile(tc.ref)
			switch {
			case tc.errText != "":
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("err = %v, want %q", err, tc.errText)
				}
			case err != nil || p.Name != tc.name:
				t.Fatalf("LoadProfile(%q) = %v, %v", tc.ref, p, err)
			}
		})
	}
}

func TestMergeOverrides(t *testing.T) {
	p := mustProfile(t)
	b, err := os.ReadFile(filepath.Join("testdata", "fields_override.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var over map[string]any
	if err := yaml.Unmarshal(b, &over); err != nil {
		t.Fatal(err)
	}
	merged := Merge(p.Customers.Fields, over)
	if _, ok := p.Customers.Fields["mname"]; !ok {
		t.Fatal("Merge modified the profile")
	}
	if _, ok := mustProfile(t).Customers.Fields["group_name"]; ok {
		t.Fatal("profile defaults are shared between calls")
	}
	m, err := Compile(merged)
	if err != nil {
		t.Fatalf("compile merged: %v", err)
	}
	got, err := m.Apply(loadRecord(t, "partner_full.json"), fakeResolver{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	want := Params{
		"lname": "Иванова", "fname": "Мария",
		"email":     "maria.ivanova@example.ru",
		"phone":     "+79123456789",
		"gender":    "F",
		"birth_day": "9", "birth_month": "3", "birth_year": "1987",
		"group_name": "Розница",
		"is_client":  "1",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

// TestErrorsNeverLeakValues feeds personal values that fail their transform
// and checks that the error names field and shape but never the value.
func TestErrorsNeverLeakValues(t *testing.T) {
	p := mustProfile(t)
	m, err := Compile(p.Customers.Fields)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("fixture with a short phone", func(t *testing.T) {
		_, err := m.Apply(loadRecord(t, "partner_bad_phone.json"), fakeResolver{})
		wrapped := fmtRecordErr("9e8d7c6b", err)
		want := "customer 9e8d7c6b: field phone (from КонтактнаяИнформация): expected a phone number (+7XXXXXXXXXX), got 5 digits"
		if wrapped != want {
			t.Fatalf("error = %q\nwant    %q", wrapped, want)
		}
		for _, secret := range []string{"22-33-4", "22334", "Сидоров", "Олег"} {
			if strings.Contains(wrapped, secret) {
				t.Fatalf("error %q contains personal value %q", wrapped, secret)
			}
		}
	})
	secrets := []struct {
		name   string
		mutate func(Record)
		secret string
	}{
		{name: "bad email", secret: "ivanova(at)mail",
			mutate: func(r Record) {
				r["КонтактнаяИнформация"].([]any)[1].(map[string]any)["АдресЭП"] = "ivanova(at)mail"
			}},
		{name: "bad phone with letters", secret: "звонить вечером",
			mutate: func(r Record) {
				r["КонтактнаяИнформация"].([]any)[0].(map[string]any)["НомерТелефона"] = "звонить вечером"
			}},
		{name: "bad birth date", secret: "09.03.1987", mutate: func(r Record) { r["ДатаРождения"] = "09.03.1987" }},
		{name: "unknown gender", secret: "Мужчина", mutate: func(r Record) { r["Пол"] = "Мужчина" }},
	}
	for _, tc := range secrets {
		t.Run(tc.name, func(t *testing.T) {
			rec := loadRecord(t, "partner_full.json")
			tc.mutate(rec)
			_, err := m.Apply(rec, fakeResolver{})
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FieldError", err)
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("error %q contains the value", err)
			}
		})
	}
}

func fmtRecordErr(key string, err error) string {
	if err == nil {
		return "<nil>"
	}
	return "customer " + key + ": " + err.Error()
}
