package mapping

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// How leading zeros of an item id are compared.
const (
	ZerosKeep   = "keep"   // "0282" and "282" differ (the default)
	ZerosIgnore = "ignore" // "0000282" and "282" are the same item
)

// ItemMatch is one way to find a 1C item for a virtpos item_id: a field
// of the items catalog, or a field of another set (a barcode register)
// whose Ref field points to the item. Values are compared trimmed, after
// Prefix is cut from the 1C side, and with leading zeros as Zeros says.
type ItemMatch struct {
	Field  string `yaml:"field"`
	Entity string `yaml:"entity"` // "" is the items catalog
	Ref    string `yaml:"ref"`    // with Entity: its field holding the item reference
	Zeros  string `yaml:"zeros"`  // ZerosKeep ("" too) or ZerosIgnore
	Prefix string `yaml:"prefix"` // cut from 1C values before comparing, e.g. "00-"
}

// UnmarshalYAML accepts a bare field name as well as the map.
func (m *ItemMatch) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*m = ItemMatch{Field: n.Value}
		return nil
	}
	type plain ItemMatch
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*m = ItemMatch(p)
	return nil
}

func (m ItemMatch) validate() error {
	var errs []error
	if strings.TrimSpace(m.Field) == "" {
		errs = append(errs, errors.New("field: required"))
	}
	if (m.Entity == "") != (m.Ref == "") {
		errs = append(errs, errors.New("entity and ref go together (a set whose ref field points to the item)"))
	}
	if m.Zeros != "" && m.Zeros != ZerosKeep && m.Zeros != ZerosIgnore {
		errs = append(errs, fmt.Errorf("zeros: want %s or %s, got %q", ZerosKeep, ZerosIgnore, m.Zeros))
	}
	return errors.Join(errs...)
}

// String names the match for messages: "Code", "Code (zeros ignored,
// prefix 00-)", "InformationRegister_Штрихкоды.Штрихкод".
func (m ItemMatch) String() string {
	s := m.Field
	if m.Entity != "" {
		s = m.Entity + "." + m.Field
	}
	var how []string
	if m.Prefix != "" {
		how = append(how, "prefix "+m.Prefix)
	}
	if m.Zeros == ZerosIgnore {
		how = append(how, "leading zeros ignored")
	}
	if len(how) > 0 {
		s += " (" + strings.Join(how, ", ") + ")"
	}
	return s
}

// Exact reports whether an equality filter on the field finds the item:
// no prefix to cut and zeros that count.
func (m ItemMatch) Exact() bool { return m.Prefix == "" && m.Zeros != ZerosIgnore }

// ID normalises a virtpos item_id for this match: trimmed, and without
// leading zeros when they are ignored ("0" stays "0").
func (m ItemMatch) ID(itemID string) string {
	s := strings.TrimSpace(itemID)
	if m.Zeros == ZerosIgnore {
		if t := strings.TrimLeft(s, "0"); t != "" {
			s = t
		} else if s != "" {
			s = "0"
		}
	}
	return s
}

// Matches reports whether a 1C value is the item id: the value trimmed,
// its prefix cut, compared as ID compares.
func (m ItemMatch) Matches(value, itemID string) bool {
	v := strings.TrimSpace(value)
	if m.Prefix != "" {
		v = strings.TrimPrefix(v, m.Prefix)
	}
	id := m.ID(itemID)
	return id != "" && m.ID(v) == id
}
