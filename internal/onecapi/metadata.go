package onecapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Metadata is the part of $metadata the client checks: entity types and
// complex types (tabular row types) with their property names and types.
type Metadata struct {
	// Entities maps an entity type name to property name -> EDM type.
	Entities map[string]map[string]string
	// Complex maps a complex type name (e.g. "Document_X_Товары_RowType")
	// to property name -> EDM type.
	Complex map[string]map[string]string
	// Sets are the entity set names of the container.
	Sets []string
}

// ParseMetadata reads an EDMX document. It streams tokens, so the real
// multi-megabyte documents (attributes split over lines) cost little.
func ParseMetadata(r io.Reader) (*Metadata, error) {
	m := &Metadata{Entities: map[string]map[string]string{}, Complex: map[string]map[string]string{}}
	dec := xml.NewDecoder(r)
	var cur map[string]string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("onec: parse $metadata: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "EntityType":
				cur = map[string]string{}
				m.Entities[attr(t, "Name")] = cur
			case "ComplexType":
				cur = map[string]string{}
				m.Complex[attr(t, "Name")] = cur
			case "EntitySet":
				m.Sets = append(m.Sets, attr(t, "Name"))
			case "Property":
				if cur != nil {
					cur[attr(t, "Name")] = attr(t, "Type")
				}
			}
		case xml.EndElement:
			if t.Name.Local == "EntityType" || t.Name.Local == "ComplexType" {
				cur = nil
			}
		}
	}
	if len(m.Entities) == 0 {
		return nil, errors.New("onec: parse $metadata: no EntityType found")
	}
	return m, nil
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// Type classes of a Need: which Edm types a field may have for the way
// virtsync reads or writes it.
const (
	TypeAny      = ""         // any primitive (not a tabular section)
	TypeString   = "string"   // Edm.String (1C enums and composite references too)
	TypeGUID     = "guid"     // Edm.Guid
	TypeDateTime = "datetime" // Edm.DateTime
	TypeNumber   = "number"   // Edm.Double, Edm.Decimal, Edm.Int16/32/64, ...
	TypeBool     = "bool"     // Edm.Boolean
	TypeRows     = "rows"     // a tabular section: Collection(..._RowType)
)

// Need is one entity set, field or row field a profile reads or writes.
type Need struct {
	Entity string
	// Field is "" for the entity set itself, "Field", or "Section.Field"
	// for a field of a tabular section's rows.
	Field string
	Type  string // a Type* class
	// For names the profile or config key that needs it, e.g.
	// "orders.rows.fields.Цена", for messages.
	For string
}

// Name is "Entity", "Entity.Field" or "Entity.Section.Field".
func (n Need) Name() string {
	if n.Field == "" {
		return n.Entity
	}
	return n.Entity + "." + n.Field
}

// Problem is a Need the publication does not meet.
type Problem struct {
	Need
	// Has is the published Edm type of a field of the wrong type; "" when
	// the entity or field is not published at all.
	Has string
	// Suggest are the closest names the publication does have.
	Suggest []string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Has == "" {
		fmt.Fprintf(&b, "%s is not published", p.Name())
	} else {
		fmt.Fprintf(&b, "%s: want %s, the publication has %s", p.Name(), typeWords(p.Type), p.Has)
	}
	if p.For != "" {
		fmt.Fprintf(&b, " (%s)", p.For)
	}
	if len(p.Suggest) > 0 {
		fmt.Fprintf(&b, "; this publication has %s", strings.Join(p.Suggest, ", "))
	}
	return b.String()
}

func typeWords(class string) string {
	switch class {
	case TypeString:
		return "text (Edm.String)"
	case TypeGUID:
		return "a reference (Edm.Guid)"
	case TypeDateTime:
		return "a date (Edm.DateTime)"
	case TypeNumber:
		return "a number (Edm.Double, Edm.Decimal or Edm.Int*)"
	case TypeBool:
		return "true/false (Edm.Boolean)"
	case TypeRows:
		return "a tabular section (Collection(..._RowType))"
	}
	return "a plain value (not a tabular section)"
}

// fits reports whether an Edm type serves a class.
func fits(class, edm string) bool {
	rows := strings.HasPrefix(edm, "Collection(")
	switch class {
	case TypeRows:
		return rows
	case TypeAny:
		return !rows
	case TypeString:
		return edm == "Edm.String"
	case TypeGUID:
		return edm == "Edm.Guid"
	case TypeDateTime:
		return edm == "Edm.DateTime" || edm == "Edm.DateTimeOffset"
	case TypeBool:
		return edm == "Edm.Boolean"
	case TypeNumber:
		switch edm {
		case "Edm.Double", "Edm.Decimal", "Edm.Single", "Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte":
			return true
		}
	}
	return false
}

// Check returns every need the publication does not meet, in the order
// of needs, each once; a missing entity is reported once, not per field.
func (m *Metadata) Check(needs []Need) []Problem {
	var out []Problem
	seen := map[string]bool{}
	report := func(p Problem) {
		// A missing name is reported once, whatever types its needs want;
		// a wrong type once per type wanted.
		k := p.Name()
		if p.Has != "" {
			k += "\x00" + p.Type
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, p)
		}
	}
	for _, n := range needs {
		props, ok := m.Entities[n.Entity]
		if !ok {
			if !seen[n.Entity] {
				seen[n.Entity] = true
				out = append(out, Problem{Need: Need{Entity: n.Entity, For: n.For}, Suggest: closest(n.Entity, m.sets())})
			}
			continue
		}
		if n.Field == "" {
			continue
		}
		section, sub, tab := strings.Cut(n.Field, ".")
		typ, ok := props[section]
		if !ok {
			// A missing section is one problem, not one per row field.
			missing := n
			if tab {
				missing.Field, missing.Type = section, TypeRows
			}
			report(Problem{Need: missing, Suggest: closest(section, slices.Collect(maps.Keys(props)))})
			continue
		}
		if !tab {
			if !fits(n.Type, typ) {
				report(Problem{Need: n, Has: typ})
			}
			continue
		}
		if !strings.HasPrefix(typ, "Collection(") {
			report(Problem{Need: Need{Entity: n.Entity, Field: section, Type: TypeRows, For: n.For}, Has: typ})
			continue
		}
		row := strings.TrimSuffix(strings.TrimPrefix(typ, "Collection("), ")")
		rowProps := m.Complex[row[strings.LastIndexByte(row, '.')+1:]]
		rtyp, ok := rowProps[sub]
		switch {
		case !ok:
			report(Problem{Need: n, Suggest: closest(sub, slices.Collect(maps.Keys(rowProps)))})
		case !fits(n.Type, rtyp):
			report(Problem{Need: n, Has: rtyp})
		}
	}
	return out
}

// HasEntity reports whether an entity set is published.
func (m *Metadata) HasEntity(name string) bool {
	_, ok := m.Entities[name]
	return ok
}

// sets lists the published entity sets (tabular sections' and register
// records' entity types are not sets).
func (m *Metadata) sets() []string {
	if len(m.Sets) > 0 {
		return m.Sets
	}
	return slices.Collect(maps.Keys(m.Entities))
}

// closest returns up to three names near name: a small edit distance
// relative to its length, or one containing the other, nearest first.
func closest(name string, names []string) []string {
	type cand struct {
		name string
		d    int
	}
	want := []rune(strings.ToLower(name))
	limit := max(2, len(want)/3)
	var cs []cand
	for _, n := range names {
		ln := strings.ToLower(n)
		d := editDistance(want, []rune(ln))
		if d > limit && !contains(ln, string(want)) {
			continue
		}
		cs = append(cs, cand{n, d})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.name, b.name)
	})
	var out []string
	for i := 0; i < len(cs) && i < 3; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// contains reports whether one name holds the other, both of at least
// four letters ("Клиент" in "КлиентКонтрагент").
func contains(a, b string) bool {
	if len([]rune(a)) < 4 || len([]rune(b)) < 4 {
		return false
	}
	return strings.Contains(a, b) || strings.Contains(b, a)
}

// editDistance is the Levenshtein distance over runes.
func editDistance(a, b []rune) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// MetadataError says what of the profile the publication does not meet,
// one problem a line, with how to publish objects.
type MetadataError struct {
	// Missing names what is not published at all, as "Entity",
	// "Entity.Field" or "Entity.Section.Field", sorted.
	Missing  []string
	Problems []Problem
	// Hint is a closing suggestion, e.g. another profile that fits.
	Hint string
}

// NewMetadataError builds the error of a failed Check.
func NewMetadataError(problems []Problem) *MetadataError {
	e := &MetadataError{Problems: problems}
	for _, p := range problems {
		if p.Has == "" {
			e.Missing = append(e.Missing, p.Name())
		}
	}
	slices.Sort(e.Missing)
	return e
}

func (e *MetadataError) Error() string {
	var b strings.Builder
	b.WriteString("onec: the 1C OData publication does not match the profile:")
	for _, p := range e.Problems {
		b.WriteString("\n  - " + p.String())
	}
	if e.Hint != "" {
		b.WriteString("\n  " + e.Hint)
	}
	var objs []string
	for _, m := range e.Missing {
		o, _, _ := strings.Cut(m, ".")
		if !slices.Contains(objs, o) {
			objs = append(objs, o)
		}
	}
	if len(objs) > 0 {
		fmt.Fprintf(&b, "\n  To publish objects, as an administrator run "+
			"УстановитьСоставСтандартногоИнтерфейсаOData(Массив) "+
			"(SetStandardODataInterfaceContent) with the metadata objects %s "+
			"(e.g. Метаданные.Справочники.Партнеры) added to the current content "+
			"(ПолучитьСоставСтандартногоИнтерфейсаOData()), or tick them in the "+
			"\"Настройка стандартного интерфейса OData\" data processor. "+
			"A missing field usually means another configuration or release: "+
			"pick the profile that fits (onec.profile) or set the field name in config.", strings.Join(objs, ", "))
	}
	return b.String()
}

// FetchMetadata downloads and parses $metadata.
func (c *Client) FetchMetadata(ctx context.Context) (*Metadata, error) {
	resp, err := c.do(ctx, request{op: "metadata", method: http.MethodGet, url: c.base + "/$metadata",
		want: []int{http.StatusOK}, mode: retryIdempotent})
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	m, err := ParseMetadata(&capped{r: resp.Body, max: MaxMetadataBytes})
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("onec: metadata: the $metadata document is over %d MiB: %w", MaxMetadataBytes>>20, ErrTooLarge)
	}
	return m, err
}

// CheckMetadata fetches $metadata and returns a *MetadataError naming
// every need the publication does not meet, with the parsed document so
// that the caller can add a hint.
func (c *Client) CheckMetadata(ctx context.Context, needs []Need) (*Metadata, error) {
	m, err := c.FetchMetadata(ctx)
	if err != nil {
		return nil, err
	}
	if problems := m.Check(needs); len(problems) > 0 {
		return m, NewMetadataError(problems)
	}
	return m, nil
}
