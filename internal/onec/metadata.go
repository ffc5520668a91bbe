package onec

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
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

// Missing returns what of want is not published, as "Entity" or
// "Entity.Field" or "Entity.Section.Field", sorted. want maps an entity set
// to fields; a tabular section's field is written "Section.Field", and
// "Section" alone checks that the section exists.
func (m *Metadata) Missing(want map[string][]string) []string {
	var out []string
	for ent, fields := range want {
		props, ok := m.Entities[ent]
		if !ok {
			out = append(out, ent)
			continue
		}
		for _, f := range fields {
			section, sub, tab := strings.Cut(f, ".")
			typ, ok := props[section]
			if !ok {
				out = append(out, ent+"."+f)
				continue
			}
			if !tab {
				continue
			}
			row := strings.TrimSuffix(strings.TrimPrefix(typ, "Collection("), ")")
			row = row[strings.LastIndexByte(row, '.')+1:]
			if _, ok := m.Complex[row][sub]; !ok || !strings.HasPrefix(typ, "Collection(") {
				out = append(out, ent+"."+f)
			}
		}
	}
	slices.Sort(out)
	return out
}

// MetadataError lists every configured entity or field that the
// publication does not expose.
type MetadataError struct {
	// Missing entries are "Entity", "Entity.Field" or
	// "Entity.Section.Field".
	Missing []string
}

func (e *MetadataError) Error() string {
	var objs []string
	for _, m := range e.Missing {
		o, _, _ := strings.Cut(m, ".")
		if !slices.Contains(objs, o) {
			objs = append(objs, o)
		}
	}
	return fmt.Sprintf("onec: the 1C OData publication does not expose: %s. "+
		"Publish these objects in the infobase: as an administrator run "+
		"УстановитьСоставСтандартногоИнтерфейсаOData(Массив) "+
		"(SetStandardODataInterfaceContent) with the metadata objects %s "+
		"(e.g. Метаданные.Справочники.Партнеры) added to the current content "+
		"(ПолучитьСоставСтандартногоИнтерфейсаOData()), or tick them in the "+
		"\"Настройка стандартного интерфейса OData\" data processor; "+
		"a missing field usually means a different configuration release: "+
		"set the field name in config", strings.Join(e.Missing, ", "), strings.Join(objs, ", "))
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

// CheckMetadata fetches $metadata and returns one *MetadataError naming
// every entity and field of want that is not published (see
// Metadata.Missing for the notation), with instructions to publish them.
func (c *Client) CheckMetadata(ctx context.Context, want map[string][]string) error {
	m, err := c.FetchMetadata(ctx)
	if err != nil {
		return err
	}
	if missing := m.Missing(want); len(missing) > 0 {
		return &MetadataError{Missing: missing}
	}
	return nil
}
