package mapping

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/virtsync/virtsync/internal/onecapi"
)

// Needs lists every entity set, field and row field the compiled profile
// reads or writes, with the Edm type class each must have: the contract
// the 1C publication's $metadata is checked against at start.
func (c *Compiled) Needs() []onecapi.Need {
	var n needs
	p := c.Profile
	// The sets first, named by their keys: a missing one is reported
	// with the role other profiles fill (see Hint).
	roles := p.Entities()
	for _, role := range sortedKeys(roles) {
		n.add(roles[role], "", onecapi.TypeAny, role)
	}
	// Every change-detecting read pages these.
	for _, e := range []struct{ entity, key string }{{p.Customers.Entity, "customers.entity"}, {p.Cards.Entity, "cards.entity"}} {
		n.add(e.entity, "Ref_Key", onecapi.TypeGUID, e.key)
		n.add(e.entity, "DataVersion", onecapi.TypeString, e.key)
		n.add(e.entity, "DeletionMark", onecapi.TypeBool, e.key)
	}
	switch p.Customers.Buyers {
	case BuyersFilter:
		for _, f := range filterFields(p.Customers.Filter) {
			n.add(p.Customers.Entity, f.name, f.typ, "customers.filter")
		}
	case BuyersGroups:
		n.add(p.Customers.Entity, "Parent_Key", onecapi.TypeGUID, "customers.groups")
		n.add(p.Customers.Entity, "IsFolder", onecapi.TypeBool, "customers.groups")
	}
	n.fieldMap(p.Customers.Entity, "customers.fields.", c.Customers)
	for _, f := range filterFields(p.Cards.Filter) {
		n.add(p.Cards.Entity, f.name, f.typ, "cards.filter")
	}
	n.fieldMap(p.Cards.Entity, "cards.fields.", c.Cards)

	o, m := p.Orders, c.Order
	n.add(o.Entity, "Ref_Key", onecapi.TypeGUID, "orders.entity")
	n.add(o.Entity, "Number", onecapi.TypeString, "orders.entity")
	for _, f := range m.header {
		key := "orders.fields." + f.name
		if f.name == o.MarkerField {
			key = "orders.marker_field"
		}
		n.add(o.Entity, f.name, f.typ, key)
	}
	n.add(o.Entity, o.Rows.Section, onecapi.TypeRows, "orders.rows.section")
	for _, f := range m.rows {
		n.add(o.Entity, o.Rows.Section+"."+f.name, f.typ, "orders.rows.fields."+f.name)
	}
	if cp := o.Counterparty; cp.Entity != "" && m.Writes(ValueCounterparty) {
		n.add(cp.Entity, "Ref_Key", onecapi.TypeGUID, "orders.counterparty.entity")
		n.add(cp.Entity, cp.By, refType(cp.By), "orders.counterparty.by")
	}
	n.add(o.Items.Entity, "Ref_Key", onecapi.TypeGUID, "orders.items.entity")
	for i, im := range o.Items.Match {
		key := "orders.items.match[" + strconv.Itoa(i) + "]"
		if im.Entity == "" {
			n.add(o.Items.Entity, im.Field, onecapi.TypeString, key)
			continue
		}
		n.add(im.Entity, im.Field, onecapi.TypeString, key)
		n.add(im.Entity, im.Ref, refType(im.Ref), key)
	}
	return n.list
}

type needs struct{ list []onecapi.Need }

func (n *needs) add(entity, field, typ, key string) {
	n.list = append(n.list, onecapi.Need{Entity: entity, Field: field, Type: typ, For: key})
}

// fieldMap adds what a field map reads: its source fields with the type
// its transform needs, tabular rows, and the objects its lookups read.
func (n *needs) fieldMap(entity, key string, m *Map) {
	for _, f := range m.fields {
		s, k := f.spec, key+f.param
		if s.HasConst {
			continue
		}
		if s.Where != nil {
			section := s.From[0]
			n.add(entity, section, onecapi.TypeRows, k)
			for _, w := range sortedKeys(s.Where) {
				n.add(entity, section+"."+w, onecapi.TypeAny, k)
			}
			for _, t := range s.Take {
				n.add(entity, section+"."+t, readType(s.As, t), k)
			}
			continue
		}
		for _, from := range s.From {
			n.add(entity, from, readType(s.As, from), k)
			if s.LookupField != "" {
				n.add(s.Entity, "Ref_Key", onecapi.TypeGUID, k)
				n.add(s.Entity, s.LookupField, onecapi.TypeAny, k)
			} else if s.Entity != "" {
				// A composite reference: X holds the GUID as text, X_Type
				// names the entity it points to.
				n.add(entity, from+"_Type", onecapi.TypeString, k)
			}
		}
	}
}

// readType is the class a field read with a transform must have.
func readType(as, field string) string {
	switch as {
	case AsDate, AsDateTime, AsDay, AsMonth, AsYear:
		return onecapi.TypeDateTime
	case AsRef:
		return refType(field)
	case AsBool01:
		return onecapi.TypeBool
	case AsPhone, AsEmail, AsNamePart:
		return onecapi.TypeString
	}
	if strings.HasSuffix(field, "_Key") {
		return onecapi.TypeGUID
	}
	return onecapi.TypeAny
}

// refType: an X_Key field is an Edm.Guid; a composite X is text.
func refType(field string) string {
	if strings.HasSuffix(field, "_Key") {
		return onecapi.TypeGUID
	}
	return onecapi.TypeAny
}

type filterField struct{ name, typ string }

// filterFields finds the fields an OData $filter names, with the type a
// comparison to true/false, a guid'..' or a 'text' literal implies.
// Functions, operators and literals are skipped.
func filterFields(filter string) []filterField {
	toks := filterTokens(filter)
	lambdas := map[string]bool{} // any(d: ...) variables
	for i := 0; i+2 < len(toks); i++ {
		if toks[i].text == "(" && toks[i+1].ident && toks[i+2].text == ":" {
			lambdas[toks[i+1].text] = true
		}
	}
	var out []filterField
	for i, t := range toks {
		if !t.ident || t.text == "" || t.number || lambdas[t.text] {
			continue
		}
		switch strings.ToLower(t.text) {
		case "eq", "ne", "gt", "ge", "lt", "le", "and", "or", "not", "true", "false", "null",
			"add", "sub", "mul", "div", "mod":
			continue
		}
		if i+1 < len(toks) && (toks[i+1].text == "(" || toks[i+1].text == "/") {
			continue // a function (substringof(...)) or a navigation (Партнер/Клиент)
		}
		if i > 0 && toks[i-1].text == "/" {
			continue // a field of another entity, not of this one
		}
		typ := onecapi.TypeAny
		if i+2 < len(toks) && isComparison(toks[i+1].text) {
			typ = literalType(toks[i+2])
		} else if i >= 2 && isComparison(toks[i-1].text) {
			typ = literalType(toks[i-2])
		}
		out = append(out, filterField{t.text, typ})
	}
	return out
}

func isComparison(s string) bool {
	switch strings.ToLower(s) {
	case "eq", "ne", "gt", "ge", "lt", "le":
		return true
	}
	return false
}

func literalType(t filterToken) string {
	switch {
	case t.ident && (strings.EqualFold(t.text, "true") || strings.EqualFold(t.text, "false")):
		return onecapi.TypeBool
	case strings.EqualFold(t.prefix, "guid"):
		return onecapi.TypeGUID
	case strings.EqualFold(t.prefix, "datetime") || strings.EqualFold(t.prefix, "datetimeoffset"):
		return onecapi.TypeDateTime
	case t.prefix != "":
		return onecapi.TypeAny // time'..', binary'..': not checked further
	case t.quoted:
		return onecapi.TypeString
	}
	return onecapi.TypeAny
}

type filterToken struct {
	text   string
	ident  bool
	number bool   // a numeric literal, suffix included (10.5M, 1e5)
	quoted bool   // a 'text' literal
	prefix string // guid or datetime of a typed literal
}

// filterTokens splits a $filter into identifiers, quoted literals (with
// their guid/datetime prefix) and single punctuation characters.
func filterTokens(s string) []filterToken {
	var out []filterToken
	r := []rune(s)
	for i := 0; i < len(r); {
		c := r[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '\'':
			j := i + 1
			for j < len(r) {
				if r[j] == '\'' {
					if j+1 < len(r) && r[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			lit := filterToken{text: string(r[i+1 : min(j, len(r))]), quoted: true}
			if n := len(out); n > 0 && out[n-1].ident && typedLiteral(out[n-1].text) {
				lit.prefix = out[n-1].text
				out = out[:n-1]
			}
			out = append(out, lit)
			i = j + 1
		case c >= '0' && c <= '9':
			j := i
			for j < len(r) && (r[j] == '.' || r[j] == '_' || unicode.IsLetter(r[j]) || (r[j] >= '0' && r[j] <= '9')) {
				j++
			}
			out = append(out, filterToken{text: string(r[i:j]), ident: true, number: true})
			i = j
		case c == '_' || unicode.IsLetter(c):
			j := i
			for j < len(r) && (r[j] == '_' || unicode.IsLetter(r[j]) || (r[j] >= '0' && r[j] <= '9')) {
				j++
			}
			out = append(out, filterToken{text: string(r[i:j]), ident: true})
			i = j
		default:
			out = append(out, filterToken{text: string(c)})
			i++
		}
	}
	return out
}

// Hint improves a failed $metadata check with what the other shipped
// profiles know: a set missing in its role (cards.entity) that another
// profile names and the publication has is suggested with that profile,
// and a profile whose every set is published is named at the end.
func Hint(me *onecapi.MetadataError, has func(entity string) bool, current *Profile) {
	others := map[string]*Profile{}
	for _, name := range ShippedProfiles() {
		if name == current.Name {
			continue
		}
		if p, err := LoadProfile(name); err == nil {
			others[name] = p
		}
	}
	for i, pr := range me.Problems {
		if pr.Has != "" || pr.Field != "" {
			continue
		}
		var alt []string
		for _, name := range sortedKeys(others) {
			e := others[name].Entities()[pr.For]
			if e != "" && e != pr.Entity && has(e) {
				alt = append(alt, e+": is it `onec.profile: "+name+"`?")
			}
		}
		if len(alt) > 0 {
			me.Problems[i].Suggest = append(alt, pr.Suggest...)
		}
	}
	for _, name := range sortedKeys(others) {
		all := true
		for _, e := range others[name].Entities() {
			all = all && has(e)
		}
		if all {
			me.Hint = "This publication has every set of the " + name + " profile (" + others[name].Title +
				"): set `onec.profile: " + name + "`."
			return
		}
	}
}

// typedLiteral reports whether an identifier is the prefix of a typed
// literal: guid'..', datetime'..', time'..', binary'..' ...
func typedLiteral(s string) bool {
	switch strings.ToLower(s) {
	case "guid", "datetime", "datetimeoffset", "time", "binary", "x":
		return true
	}
	return false
}
