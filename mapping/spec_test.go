package mapping

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/virtsync/virtsync"
	"go.yaml.in/yaml/v3"
)

// fakeResolver is a hand-written fake: fixed id map entries and an optional
// failure.
type fakeResolver struct {
	ids map[string]string // kind+"/"+ref -> id
	err error
}

func (f fakeResolver) Resolve(kind, ref string) (string, bool, error) {
	if f.err != nil {
		return "", false, f.err
	}
	id, ok := f.ids[kind+"/"+ref]
	return id, ok, nil
}

// fakeLookup serves pre-fetched objects: entity -> ref -> fields.
type fakeLookup map[string]map[string]Record

func (f fakeLookup) Lookup(entity, ref, field string) (any, bool, error) {
	obj, ok := f[entity][ref]
	if !ok {
		return nil, false, nil
	}
	return obj[field], true, nil
}

// both serves resolve and lookup, as a caller's id-map adapter would.
type both struct {
	fakeResolver
	fakeLookup
}

const (
	partner = "3f2a9c1e-5b7d-11ef-8e2a-001dd8b71c2f"
	kind    = "d0d0d0d0-6a7b-11ef-8e2a-001dd8b71c2f"
)

func contacts() []any {
	return []any{
		map[string]any{"LineNumber": "1", "Тип": "Телефон", "Представление": "8 912 000-00-01", "НомерТелефона": ""},
		map[string]any{"LineNumber": "2", "Тип": "АдресЭлектроннойПочты", "Представление": "b@example.ru", "АдресЭП": ""},
		map[string]any{"LineNumber": "3", "Тип": "АдресЭлектроннойПочты", "Представление": "c@example.ru", "АдресЭП": "d@example.ru"},
	}
}

func TestSpecForms(t *testing.T) {
	res := both{
		fakeResolver{ids: map[string]string{"customer/" + partner: "1042"}},
		fakeLookup{"Catalog_ВидыКартЛояльности": {kind: {"Description": "Дисконтная 5%", "ТипКарты": "Штриховая"}}},
	}
	cases := []struct {
		name string
		spec any
		rec  Record
		want Params
	}{
		{name: "field name", spec: "Description", rec: Record{"Description": "Мария"}, want: Params{"p": "Мария"}},
		{name: "from fallback first non-empty", spec: map[string]any{"from": []any{"Штрихкод", "МагнитныйКод"}},
			rec: Record{"Штрихкод": "", "МагнитныйКод": ";777?"}, want: Params{"p": ";777?"}},
		{name: "from fallback prefers first", spec: map[string]any{"from": []any{"Штрихкод", "МагнитныйКод"}},
			rec: Record{"Штрихкод": "290", "МагнитныйКод": ";777?"}, want: Params{"p": "290"}},
		{name: "missing field absent", spec: "Нет", rec: Record{}, want: Params{}},
		{name: "where take falls back within row", spec: map[string]any{"from": "КИ", "where": map[string]any{"Тип": "Телефон"},
			"take": []any{"НомерТелефона", "Представление"}, "as": "phone"}, rec: Record{"КИ": contacts()}, want: Params{"p": "+79120000001"}},
		{name: "where take first matching row with a value", spec: map[string]any{"from": "КИ", "where": map[string]any{"Тип": "АдресЭлектроннойПочты"},
			"take": "АдресЭП"}, rec: Record{"КИ": contacts()}, want: Params{"p": "d@example.ru"}},
		{name: "where on LineNumber string", spec: map[string]any{"from": "КИ", "where": map[string]any{"LineNumber": 2},
			"take": "Представление"}, rec: Record{"КИ": contacts()}, want: Params{"p": "b@example.ru"}},
		{name: "where no matching row absent", spec: map[string]any{"from": "КИ", "where": map[string]any{"Тип": "Адрес"},
			"take": "Представление"}, rec: Record{"КИ": contacts()}, want: Params{}},
		{name: "where without section absent", spec: map[string]any{"from": "КИ", "where": map[string]any{"Тип": "Адрес"},
			"take": "Представление"}, rec: Record{}, want: Params{}},
		{name: "const", spec: map[string]any{"const": "Розница"}, rec: Record{}, want: Params{"p": "Розница"}},
		{name: "numeric const", spec: map[string]any{"const": 1}, rec: Record{}, want: Params{"p": "1"}},
		{name: "default when absent", spec: map[string]any{"from": "Пол", "map": map[string]any{"Мужской": "M"}, "default": "U"},
			rec: Record{"Пол": ""}, want: Params{"p": "U"}},
		{name: "ref resolved", spec: map[string]any{"from": "Партнер_Key", "as": "ref", "kind": "customer"},
			rec: Record{"Партнер_Key": partner}, want: Params{"p": "1042"}},
		{name: "ref empty GUID absent", spec: map[string]any{"from": "Партнер_Key", "as": "ref", "kind": "customer"},
			rec: Record{"Партнер_Key": EmptyGUID}, want: Params{}},
		{name: "ref unresolved goes to fallback", spec: map[string]any{"from": "Партнер_Key", "as": "ref", "kind": "customer", "fallback": "customer_external_id"},
			rec: Record{"Партнер_Key": "11111111-2222-3333-4444-555555555555"}, want: Params{"customer_external_id": "11111111-2222-3333-4444-555555555555"}},
		{name: "lookup with map", spec: map[string]any{"from": "Owner_Key", "entity": "Catalog_ВидыКартЛояльности", "lookup": "ТипКарты",
			"map": map[string]any{"Штриховая": "PLASTIC"}}, rec: Record{"Owner_Key": kind}, want: Params{"p": "PLASTIC"}},
		{name: "lookup cyrillic description", spec: map[string]any{"from": "Owner_Key", "entity": "Catalog_ВидыКартЛояльности", "lookup": "Description"},
			rec: Record{"Owner_Key": kind}, want: Params{"p": "Дисконтная 5%"}},
		{name: "lookup empty GUID absent", spec: map[string]any{"from": "Owner_Key", "entity": "Catalog_ВидыКартЛояльности", "lookup": "Description"},
			rec: Record{"Owner_Key": EmptyGUID}, want: Params{}},
		{name: "composite owner of the named type resolves", spec: map[string]any{"from": "ВладелецКарты", "entity": "Catalog_Партнеры", "as": "ref", "kind": "customer"},
			rec: Record{"ВладелецКарты": partner, "ВладелецКарты_Type": "StandardODATA.Catalog_Партнеры"}, want: Params{"p": "1042"}},
		{name: "composite owner of another type absent", spec: map[string]any{"from": "ВладелецКарты", "entity": "Catalog_Партнеры", "as": "ref", "kind": "customer"},
			rec: Record{"ВладелецКарты": partner, "ВладелецКарты_Type": "StandardODATA.Catalog_Контрагенты"}, want: Params{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyOne(t, tc.spec, tc.rec, res)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	unknown := "11111111-2222-3333-4444-555555555555"
	boom := errors.New("state db locked")
	cases := []struct {
		name  string
		spec  any
		rec   Record
		r     Resolver
		check func(t *testing.T, err error)
	}{
		{name: "unresolved ref is typed", spec: map[string]any{"from": "Партнер_Key", "as": "ref", "kind": "customer"},
			rec: Record{"Партнер_Key": unknown}, r: fakeResolver{},
			check: func(t *testing.T, err error) {
				var ue *UnresolvedError
				if !errors.As(err, &ue) || ue.Kind != "customer" || ue.Ref != unknown || ue.Param != "p" {
					t.Fatalf("err = %#v, want UnresolvedError customer %s", err, unknown)
				}
			}},
		{name: "resolver failure wrapped", spec: map[string]any{"from": "Партнер_Key", "as": "ref", "kind": "card"},
			rec: Record{"Партнер_Key": unknown}, r: fakeResolver{err: boom},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, boom) || !strings.Contains(err.Error(), "field p: resolve card") {
					t.Fatalf("err = %v", err)
				}
			}},
		{name: "lookup of unknown kind is unresolved", spec: map[string]any{"from": "Owner_Key", "entity": "Catalog_ВидыКартЛояльности", "lookup": "ТипКарты"},
			rec: Record{"Owner_Key": unknown}, r: both{fakeResolver{}, fakeLookup{}},
			check: func(t *testing.T, err error) {
				var ue *UnresolvedError
				if !errors.As(err, &ue) || ue.Kind != "Catalog_ВидыКартЛояльности" {
					t.Fatalf("err = %v, want UnresolvedError for the kind", err)
				}
			}},
		{name: "lookup without Lookup is an error", spec: map[string]any{"from": "Owner_Key", "entity": "Catalog_ВидыКартЛояльности", "lookup": "ТипКарты"},
			rec: Record{"Owner_Key": unknown}, r: fakeResolver{},
			check: func(t *testing.T, err error) {
				if err == nil || !strings.Contains(err.Error(), "no Lookup given") {
					t.Fatalf("err = %v", err)
				}
			}},
		{name: "required absent", spec: map[string]any{"from": "Штрихкод", "required": true},
			rec: Record{"Штрихкод": ""},
			check: func(t *testing.T, err error) {
				var fe *FieldError
				if !errors.As(err, &fe) || err.Error() != "field p (from Штрихкод): expected a value, got nothing" {
					t.Fatalf("err = %v", err)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := applyOne(t, tc.spec, tc.rec, tc.r)
			tc.check(t, err)
		})
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		want   []string
	}{
		{name: "unknown key", fields: map[string]any{"phone": map[string]any{"from": "X", "form": "Y"}},
			want: []string{`field phone: unknown key "form"`}},
		{name: "unknown transform", fields: map[string]any{"email": map[string]any{"from": "X", "as": "mail"}},
			want: []string{`field email: unknown transform "mail"`}},
		{name: "where without take", fields: map[string]any{"phone": map[string]any{"from": "X", "where": map[string]any{"Тип": "Телефон"}}},
			want: []string{"field phone: where and take go together"}},
		{name: "take without where", fields: map[string]any{"phone": map[string]any{"from": "X", "take": "Y"}},
			want: []string{"field phone: where and take go together"}},
		{name: "where over two sections", fields: map[string]any{"phone": map[string]any{"from": []any{"A", "B"}, "where": map[string]any{"a": 1}, "take": "Y"}},
			want: []string{"field phone: where needs exactly one tabular section"}},
		{name: "part without name_part", fields: map[string]any{"lname": map[string]any{"from": "Description", "part": 1}},
			want: []string{"field lname: part is only for as: name_part"}},
		{name: "name_part without part", fields: map[string]any{"lname": map[string]any{"from": "Description", "as": "name_part"}},
			want: []string{"field lname: name_part needs part 1, 2 or 3"}},
		{name: "part not a number", fields: map[string]any{"lname": map[string]any{"from": "Description", "as": "name_part", "part": "first"}},
			want: []string{"field lname: part: must be 1, 2 or 3"}},
		{name: "ref without kind", fields: map[string]any{"customer_id": map[string]any{"from": "Партнер_Key", "as": "ref"}},
			want: []string{`field customer_id: ref needs kind customer, card or order, got ""`}},
		{name: "kind without ref", fields: map[string]any{"customer_id": map[string]any{"from": "Партнер_Key", "kind": "customer"}},
			want: []string{"field customer_id: kind is only for as: ref"}},
		{name: "map with other transform", fields: map[string]any{"gender": map[string]any{"from": "Пол", "as": "email", "map": map[string]any{"a": "b"}}},
			want: []string{"field gender: map cannot be combined with as: email"}},
		{name: "empty map key", fields: map[string]any{"gender": map[string]any{"from": "Пол", "map": map[string]any{"": "U"}}},
			want: []string{`field gender: map key "" never matches`}},
		{name: "as map without map", fields: map[string]any{"gender": map[string]any{"from": "Пол", "as": "map"}},
			want: []string{"field gender: as: map needs a non-empty map"}},
		{name: "const with from", fields: map[string]any{"group_name": map[string]any{"from": "X", "const": "Y"}},
			want: []string{"field group_name: const takes no from"}},
		{name: "neither from nor const", fields: map[string]any{"x": map[string]any{"as": "date"}},
			want: []string{"field x: needs from or const"}},
		{name: "lookup without entity", fields: map[string]any{"medium": map[string]any{"from": "Owner_Key", "lookup": "ТипКарты"}},
			want: []string{"field medium: lookup needs entity"}},
		{name: "required not bool", fields: map[string]any{"uid": map[string]any{"from": "X", "required": "yes"}},
			want: []string{"field uid: required: must be true or false"}},
		{name: "fallback clashes", fields: map[string]any{
			"customer_id":          map[string]any{"from": "Партнер_Key", "as": "ref", "kind": "customer", "fallback": "customer_external_id"},
			"customer_external_id": "Партнер_Key"},
			want: []string{"field customer_id: fallback customer_external_id is also mapped"}},
		{name: "empty name and list spec", fields: map[string]any{"a": "", "b": []any{"X"}},
			want: []string{"field a: empty field name", "field b: a spec is a field name or a map, got list of 1 rows"}},
		{name: "all problems reported", fields: map[string]any{"a": map[string]any{"from": "X", "x": 1}, "b": map[string]any{"from": "Y", "as": "nope"}},
			want: []string{`field a: unknown key "x"`, `field b: unknown transform "nope"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(tc.fields)
			if err == nil {
				t.Fatalf("Compile succeeded: %+v", m)
			}
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("err %v has no *SpecError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestSpecUnmarshalYAML(t *testing.T) {
	var cfg struct {
		Fields map[string]Spec `yaml:"fields"`
	}
	src := `
fields:
  lname: {from: Description, as: name_part, part: 1}
  uid: {from: [Штрихкод, МагнитныйКод], required: true}
  phone: {from: КонтактнаяИнформация, where: {Тип: Телефон}, take: [НомерТелефона, Представление], as: phone}
  gender: {from: Пол, map: {Мужской: M, Женский: F}}
  external_id: Ref_Key
`
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	want := map[string]Spec{
		"lname":       {From: []string{"Description"}, As: AsNamePart, Part: 1},
		"uid":         {From: []string{"Штрихкод", "МагнитныйКод"}, Required: true},
		"phone":       {From: []string{"КонтактнаяИнформация"}, Where: map[string]string{"Тип": "Телефон"}, Take: []string{"НомерТелефона", "Представление"}, As: AsPhone},
		"gender":      {From: []string{"Пол"}, As: AsMap, Map: map[string]string{"Мужской": "M", "Женский": "F"}},
		"external_id": {From: []string{"Ref_Key"}},
	}
	if !reflect.DeepEqual(cfg.Fields, want) {
		t.Fatalf("got %+v\nwant %+v", cfg.Fields, want)
	}
	// Parsed Specs compile as they are.
	fields := map[string]any{}
	for k, v := range cfg.Fields {
		fields[k] = v
	}
	if _, err := Compile(fields); err != nil {
		t.Fatalf("compile parsed specs: %v", err)
	}

	err := yaml.Unmarshal([]byte("fields:\n  lname: {from: Description, as: name_part}\n"), &cfg)
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "name_part needs part") {
		t.Fatalf("err = %v, want line and problem", err)
	}
}

func TestMapIntrospection(t *testing.T) {
	m, err := Compile(map[string]any{
		"uid":         map[string]any{"from": []any{"Штрихкод", "МагнитныйКод"}},
		"customer_id": map[string]any{"from": "ВладелецКарты", "entity": "Catalog_Партнеры", "as": "ref", "kind": "customer", "fallback": "customer_external_id"},
		"phone":       map[string]any{"from": "КонтактнаяИнформация", "where": map[string]any{"Тип": "Телефон"}, "take": "Представление"},
		"group_name":  map[string]any{"const": "Розница"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		got  []string
		want []string
	}{
		{name: "params include fallback", got: m.Params(), want: []string{"customer_external_id", "customer_id", "group_name", "phone", "uid"}},
		{name: "sources include composite type", got: m.Sources(), want: []string{"ВладелецКарты", "ВладелецКарты_Type", "КонтактнаяИнформация", "МагнитныйКод", "Штрихкод"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestYAMLSpecEdgeForms(t *testing.T) {
	cases := []struct {
		name string
		src  string // one field spec in YAML
		rec  Record
		want Params
	}{
		{name: "bool map keys", src: "{from: Клиент, map: {true: Y, false: N}}", rec: Record{"Клиент": false}, want: Params{"p": "N"}},
		{name: "default for empty enum", src: `{from: Пол, map: {Мужской: M}, default: U}`, rec: Record{"Пол": ""}, want: Params{"p": "U"}},
		{name: "numeric where value", src: "{from: Товары, where: {LineNumber: 2}, take: Цена}",
			rec:  Record{"Товары": []any{map[string]any{"LineNumber": "1", "Цена": "1"}, map[string]any{"LineNumber": "2", "Цена": json.Number("100.10")}}},
			want: Params{"p": "100.10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := yaml.Unmarshal([]byte(tc.src), &v); err != nil {
				t.Fatal(err)
			}
			got, err := applyOne(t, v, tc.rec, nil)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{name: "unresolved", err: &UnresolvedError{Param: "customer_id", Kind: virtsync.KindCustomer, Ref: partner},
			want: "field customer_id: unresolved customer reference " + partner},
		{name: "field", err: &FieldError{Param: "email", From: "КонтактнаяИнформация", Expected: "an e-mail address", Shape: "text of 9 chars"},
			want: "field email (from КонтактнаяИнформация): expected an e-mail address, got text of 9 chars"},
		{name: "spec without param", err: &SpecError{Problem: "empty spec"}, want: "field spec: empty spec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
