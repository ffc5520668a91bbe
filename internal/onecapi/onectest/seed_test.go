package onectest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDemoSeed(t *testing.T) {
	seed := DemoSeed(40, 30, 3, 42)
	if !reflect.DeepEqual(seed, DemoSeed(40, 30, 3, 42)) {
		t.Fatal("DemoSeed is not deterministic for the same rand seed")
	}
	counts := map[string]int{SetPartners: 40, SetCounterpty: 40, SetCardKinds: 3, SetCards: 30, SetItems: DemoItems}
	for set, want := range counts {
		if got := len(seed[set]); got != want {
			t.Errorf("%s: %d objects, want %d", set, got, want)
		}
	}
	var nonClients, emptyBirth, emptyGender, dashedPhones, plusPhones int
	for _, p := range seed[SetPartners] {
		if p["Клиент"] == false {
			nonClients++
		}
		if p["ДатаРождения"] == EmptyDate {
			emptyBirth++
		}
		if p["Пол"] == "" {
			emptyGender++
		}
		for _, c := range p["КонтактнаяИнформация"].([]any) {
			row := c.(map[string]any)
			if row["Тип"] == "Телефон" {
				ph := row["НомерТелефона"].(string)
				dashedPhones += btoi(strings.HasPrefix(ph, "8 ("))
				plusPhones += btoi(strings.HasPrefix(ph, "+7"))
			}
		}
	}
	if nonClients == 0 || emptyBirth == 0 || emptyGender == 0 || dashedPhones == 0 || plusPhones == 0 {
		t.Errorf("demo lacks variety: nonClients=%d emptyBirth=%d emptyGender=%d 8(...)=%d +7=%d",
			nonClients, emptyBirth, emptyGender, dashedPhones, plusPhones)
	}
	types := map[any]bool{}
	for _, k := range seed[SetCardKinds] {
		types[k["ТипКарты"]] = true
	}
	if len(types) != 3 {
		t.Errorf("card kinds ТипКарты = %v, want 3 distinct", types)
	}
	for i, it := range seed[SetItems] {
		if it["Code"] != DemoItemCode(i) {
			t.Errorf("item %d Code = %v, want %s", i, it["Code"], DemoItemCode(i))
		}
	}
	s := New(Options{})
	if err := s.Load(seed); err != nil {
		t.Fatalf("Load(DemoSeed): %v", err)
	}
	partners := map[string]bool{}
	for _, p := range s.All(SetPartners) {
		partners[p["Ref_Key"].(string)] = p["Клиент"] == true
	}
	for _, c := range s.All(SetCards) {
		if !partners[c["Партнер_Key"].(string)] {
			t.Errorf("card %v is owned by a non-client or unknown partner", c["Ref_Key"])
		}
		if c["Штрихкод"] == "" && c["МагнитныйКод"] == "" {
			t.Errorf("card %v has no code", c["Ref_Key"])
		}
	}
	for _, c := range s.All(SetCounterpty) {
		if _, ok := partners[c["Партнер_Key"].(string)]; !ok {
			t.Errorf("Контрагент %v points to an unknown partner", c["Ref_Key"])
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSeedFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.json")
	data, err := json.Marshal(DemoSeed(5, 3, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	seed, err := LoadSeedFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{})
	if err := s.Load(seed); err != nil {
		t.Fatal(err)
	}
	if n := len(s.All(SetPartners)); n != 5 {
		t.Errorf("partners = %d", n)
	}

	cases := []struct {
		name, body, wantErr string
	}{
		{"not json", `{`, "decode seed"},
		{"unknown set", `{"Catalog_Нет":[{}]}`, "unknown entity set"},
		{"unknown field", `{"Catalog_Партнеры":[{"Лишнее":1}]}`, "Лишнее"},
		{"float money kept exact", `{"Document_ЗаказКлиента":[{"Date":"2026-01-01T00:00:00","СуммаДокумента":0.1}]}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s.json")
			if err := os.WriteFile(p, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			seed, err := LoadSeedFile(p)
			if err == nil {
				err = New(Options{}).Load(seed)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := LoadSeedFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file did not fail")
	}
}
