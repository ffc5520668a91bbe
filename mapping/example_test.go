package mapping_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/virtsync/virtsync/mapping"
)

// idMap stands in for the state package's id map.
type idMap map[string]string

func (m idMap) Resolve(kind, ref string) (string, bool, error) {
	id, ok := m[kind+"/"+ref]
	return id, ok, nil
}

// Build the ut11 customer map with one user override and apply it to a
// partner as the OData reader decodes it.
func Example() {
	p, err := mapping.LoadProfile("ut11")
	if err != nil {
		panic(err)
	}
	fields := mapping.Merge(p.Customers.Fields, map[string]any{
		"group_name": map[string]any{"const": "Розница"},
	})
	m, err := mapping.Compile(fields)
	if err != nil {
		panic(err)
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(`{
		"Ref_Key": "3f2a9c1e-5b7d-11ef-8e2a-001dd8b71c2f",
		"Description": "Иванова Мария Петровна",
		"Пол": "Женский",
		"ДатаРождения": "0001-01-01T00:00:00",
		"КонтактнаяИнформация": [
			{"LineNumber": "1", "Тип": "Телефон", "Представление": "8 (912) 345-67-89", "НомерТелефона": ""}
		]}`)))
	dec.UseNumber()
	var rec mapping.Record
	if err := dec.Decode(&rec); err != nil {
		panic(err)
	}
	params, err := m.Apply(rec, idMap{})
	if err != nil {
		panic(err)
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("%s=%s\n", k, params[k])
	}
	// Output:
	// fname=Мария
	// gender=F
	// group_name=Розница
	// lname=Иванова
	// mname=Петровна
	// phone=+79123456789
}
