package onectest

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type edmx struct {
	Schemas []struct {
		Namespace   string `xml:"Namespace,attr"`
		EntityTypes []struct {
			Name string `xml:"Name,attr"`
			Keys []struct {
				Name string `xml:"Name,attr"`
			} `xml:"Key>PropertyRef"`
			Props []edmProp `xml:"Property"`
		} `xml:"EntityType"`
		ComplexTypes []struct {
			Name  string    `xml:"Name,attr"`
			Props []edmProp `xml:"Property"`
		} `xml:"ComplexType"`
		Container struct {
			Sets []struct {
				Name       string `xml:"Name,attr"`
				EntityType string `xml:"EntityType,attr"`
			} `xml:"EntitySet"`
			Functions []struct {
				Name   string `xml:"Name,attr"`
				Params []struct {
					Name string `xml:"Name,attr"`
					Type string `xml:"Type,attr"`
				} `xml:"Parameter"`
			} `xml:"FunctionImport"`
		} `xml:"EntityContainer"`
	} `xml:"DataServices>Schema"`
}

type edmProp struct {
	Name     string `xml:"Name,attr"`
	Type     string `xml:"Type,attr"`
	Nullable string `xml:"Nullable,attr"`
}

// typeIndex maps "EntityOrComplexType" -> property name -> type.
func typeIndex(t *testing.T, data []byte) (map[string]map[string]string, map[string]bool, map[string]bool) {
	t.Helper()
	var doc edmx
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse EDMX: %v", err)
	}
	if len(doc.Schemas) != 1 || doc.Schemas[0].Namespace != "StandardODATA" {
		t.Fatalf("schemas = %+v", len(doc.Schemas))
	}
	sc := doc.Schemas[0]
	types := map[string]map[string]string{}
	for _, et := range sc.EntityTypes {
		props := map[string]string{}
		for _, p := range et.Props {
			props[p.Name] = p.Type
		}
		for _, k := range et.Keys {
			if _, ok := props[k.Name]; !ok {
				t.Errorf("%s: key %s is not a property", et.Name, k.Name)
			}
		}
		types[et.Name] = props
	}
	for _, ct := range sc.ComplexTypes {
		props := map[string]string{}
		for _, p := range ct.Props {
			props[p.Name] = p.Type
		}
		types[ct.Name] = props
	}
	sets := map[string]bool{}
	for _, s := range sc.Container.Sets {
		sets[s.Name] = true
		if s.EntityType != "StandardODATA."+s.Name {
			t.Errorf("EntitySet %s has EntityType %s", s.Name, s.EntityType)
		}
	}
	posts := map[string]bool{}
	for _, f := range sc.Container.Functions {
		if f.Name == "Post" && len(f.Params) > 0 {
			posts[strings.TrimPrefix(f.Params[0].Type, "StandardODATA.")] = true
		}
	}
	return types, sets, posts
}

func TestMetadataDescribesWhatIsServed(t *testing.T) {
	s, base := startSmall(t)
	r := call(t, "GET", base+"$metadata", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/xml") {
		t.Fatalf("$metadata: %d %s", r.status, r.header.Get("Content-Type"))
	}
	types, sets, posts := typeIndex(t, r.body)
	for _, et := range s.types {
		if !sets[et.Name] {
			t.Errorf("no EntitySet %s", et.Name)
		}
		props := types[et.Name]
		for _, f := range et.Fields {
			if props[f.Name] != string(f.Type) {
				t.Errorf("%s.%s: type %q, want %s", et.Name, f.Name, props[f.Name], f.Type)
			}
		}
		for _, tab := range et.Tabs {
			row := et.Name + "_" + tab.Name + "_RowType"
			if props[tab.Name] != "Collection(StandardODATA."+row+")" {
				t.Errorf("%s.%s: type %q", et.Name, tab.Name, props[tab.Name])
			}
			if _, ok := types[row]; !ok {
				t.Errorf("no ComplexType %s", row)
			}
			if !sets[et.Name+"_"+tab.Name] {
				t.Errorf("no EntitySet for tabular section %s_%s", et.Name, tab.Name)
			}
			for _, f := range tab.Fields {
				if types[row][f.Name] != string(f.Type) {
					t.Errorf("%s.%s: type %q, want %s", row, f.Name, types[row][f.Name], f.Type)
				}
			}
		}
		if et.Document && !posts[et.Name] {
			t.Errorf("no Post function for %s", et.Name)
		}
	}
	if !strings.Contains(string(r.body), "Collection(StandardODATA.Catalog_Партнеры_КонтактнаяИнформация_RowType)") {
		t.Error("Cyrillic collection type missing from the raw EDMX")
	}
}

// realCapture is the 1C 8.5 capture shared by the project (not in the
// repository): <repo>/../shared/testdata/onec/trade_demo_8.5.
func realCapture(t *testing.T) []byte {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Skip("repository root not found")
		}
	}
	path := filepath.Join(dir, "..", "shared", "testdata", "onec", "trade_demo_8.5", "msg001_metadata.xml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("real 1C capture not available (%v): skipping the comparison with a real $metadata", err)
	}
	return data
}

// TestMetadataAgreesWithRealCapture checks every property the fake serves
// for objects the real base publishes exists there with the same type.
func TestMetadataAgreesWithRealCapture(t *testing.T) {
	real, realSets, realPosts := typeIndex(t, realCapture(t))
	s := New(Options{})
	ours, _, _ := typeIndex(t, s.metadataXML())
	compared := 0
	for name, props := range ours {
		rp, ok := real[name]
		if !ok {
			continue // e.g. Catalog_Партнеры is not published in the capture
		}
		compared++
		if strings.HasSuffix(name, "_RowType") || realSets[name] {
			for p, typ := range props {
				if rp[p] != typ {
					t.Errorf("%s.%s: fake type %q, real %q", name, p, typ, rp[p])
				}
			}
		}
	}
	if compared < 6 {
		t.Errorf("only %d types compared with the capture, want Контрагенты, Номенклатура, ЗаказКлиента and their sections", compared)
	}
	if !realPosts[SetOrders] {
		t.Error("capture has no Post for Document_ЗаказКлиента: the fake's Post would not match 1C")
	}
}
