package onecapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
)

// realCapture is the real $metadata of a 1C 8.5 trade demo base (see its
// README); it is not copied into the repository.
const realCapture = "../../../shared/testdata/onec/trade_demo_8.5/msg001_metadata.xml"

func TestCheckMetadataFixture(t *testing.T) {
	tests := []struct {
		name  string
		needs []Need
		want  []string // Problem.String() of each, in order
	}{
		{name: "all present", needs: []Need{
			{Entity: "Catalog_Партнеры", Field: "Ref_Key", Type: TypeGUID},
			{Entity: "Catalog_Партнеры", Field: "Пол", Type: TypeString},
			{Entity: "Catalog_Партнеры", Field: "КонтактнаяИнформация", Type: TypeRows},
			{Entity: "Catalog_Партнеры", Field: "КонтактнаяИнформация.АдресЭП"},
		}},
		{
			name: "every problem named, with its key and the closest names",
			needs: []Need{
				{Entity: "Catalog_Партнеры", Field: "Description", Type: TypeString, For: "customers.fields.lname"},
				{Entity: "Catalog_Партнеры", Field: "ДатаРождения", Type: TypeDateTime, For: "customers.fields.birth_day"},
				{Entity: "Catalog_Партнеры", Field: "Поль", For: "customers.fields.gender"},
				{Entity: "Catalog_Партнеры", Field: "КонтактнаяИнформация.НомерТелефона", Type: TypeString, For: "customers.fields.phone"},
				{Entity: "Catalog_Партнеры", Field: "Пол.Нет", For: "customers.fields.x"},
				{Entity: "Catalog_Партнеры", Field: "DeletionMark", Type: TypeString, For: "customers.entity"},
				{Entity: "Catalog_Партнеры", Field: "Description", Type: TypeDateTime, For: "customers.fields.birth_year"},
				{Entity: "Catalog_Партнер", For: "cards.entity"},
				{Entity: "Catalog_Партнер", Field: "Штрихкод", For: "cards.fields.uid"},
			},
			want: []string{
				"Catalog_Партнеры.ДатаРождения is not published (customers.fields.birth_day)",
				"Catalog_Партнеры.Поль is not published (customers.fields.gender); this publication has Пол",
				"Catalog_Партнеры.КонтактнаяИнформация.НомерТелефона is not published (customers.fields.phone)",
				"Catalog_Партнеры.Пол: want a tabular section (Collection(..._RowType)), the publication has Edm.String (customers.fields.x)",
				"Catalog_Партнеры.DeletionMark: want text (Edm.String), the publication has Edm.Boolean (customers.entity)",
				"Catalog_Партнеры.Description: want a date (Edm.DateTime), the publication has Edm.String (customers.fields.birth_year)",
				"Catalog_Партнер is not published (cards.entity); this publication has Catalog_Партнеры",
			},
		},
	}
	body := readFixture(t, "metadata_small.xml")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !checkAuth(w, r) {
			return
		}
		if r.URL.Path != pubPath+"/$metadata" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := c.CheckMetadata(t.Context(), tt.needs)
			if m == nil {
				t.Fatalf("no metadata: %v", err)
			}
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *MetadataError", err)
			}
			var got []string
			for _, p := range me.Problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			msg := err.Error()
			for _, s := range append(tt.want, "SetStandardODataInterfaceContent", "УстановитьСоставСтандартногоИнтерфейсаOData") {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q: %s", s, msg)
				}
			}
			if want := []string{"Catalog_Партнер", "Catalog_Партнеры.ДатаРождения",
				"Catalog_Партнеры.КонтактнаяИнформация.НомерТелефона", "Catalog_Партнеры.Поль"}; !slices.Equal(me.Missing, want) {
				t.Errorf("Missing = %v, want %v", me.Missing, want)
			}
		})
	}
}

// TestParseRealMetadata checks the contract against the real capture: the
// fields DESIGN.md relies on are there with the types virtsync needs, and
// a wrong name or type is caught with the name the capture has.
func TestParseRealMetadata(t *testing.T) {
	f, err := os.Open(realCapture)
	if err != nil {
		t.Skipf("real 1C capture not available (%v); see DESIGN.md section 8", err)
	}
	defer f.Close()
	m, err := ParseMetadata(f)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Entities["Document_ЗаказКлиента"]); n != 88 {
		t.Errorf("Document_ЗаказКлиента has %d properties, README says 88", n)
	}
	if n := len(m.Complex["Document_ЗаказКлиента_Товары_RowType"]); n != 39 {
		t.Errorf("Товары row type has %d properties, README says 39", n)
	}
	// 1C publishes tabular sections as entity sets of their own too.
	for _, set := range []string{"Catalog_Номенклатура", "Document_ЗаказКлиента", "Document_ЗаказКлиента_Товары"} {
		if !slices.Contains(m.Sets, set) {
			t.Errorf("entity sets lack %s: %v", set, m.Sets)
		}
	}
	doc := "Document_ЗаказКлиента"
	var ok []Need
	for _, n := range []struct{ field, typ string }{
		{"Ref_Key", TypeGUID}, {"DataVersion", TypeString}, {"Number", TypeString}, {"Date", TypeDateTime},
		{"Posted", TypeBool}, {"Партнер_Key", TypeGUID}, {"Контрагент_Key", TypeGUID}, {"НомерПоДаннымКлиента", TypeString},
		{"СуммаДокумента", TypeNumber}, {"ЦенаВключаетНДС", TypeBool}, {"Товары", TypeRows},
		{"Товары.LineNumber", TypeNumber}, {"Товары.Номенклатура_Key", TypeGUID}, {"Товары.Количество", TypeNumber},
		{"Товары.Цена", TypeNumber}, {"Товары.Сумма", TypeNumber}, {"Товары.СуммаРучнойСкидки", TypeNumber},
	} {
		ok = append(ok, Need{Entity: doc, Field: n.field, Type: n.typ})
	}
	ok = append(ok, Need{Entity: "Catalog_Контрагенты", Field: "Партнер_Key", Type: TypeGUID},
		Need{Entity: "Catalog_Контрагенты", Field: "КонтактнаяИнформация.Тип", Type: TypeString},
		Need{Entity: "Catalog_Номенклатура", Field: "Code", Type: TypeString},
		Need{Entity: "Catalog_Номенклатура", Field: "Артикул", Type: TypeString})
	if p := m.Check(ok); len(p) != 0 {
		t.Errorf("fields DESIGN.md relies on fail the real capture: %v", p)
	}
	got := m.Check([]Need{
		{Entity: "Catalog_Партнеры", Field: "Description", For: "customers.entity"},
		{Entity: doc, Field: "НомерПоДаннымКлиентов", Type: TypeString, For: "orders.marker_field"},
		{Entity: doc, Field: "Товары.Цена", Type: TypeString, For: "orders.rows.fields.Цена"},
		{Entity: doc, Field: "Запасы.Цена", Type: TypeNumber, For: "orders.rows.fields.Цена"},
	})
	want := []string{
		"Catalog_Партнеры is not published (customers.entity)",
		doc + ".НомерПоДаннымКлиентов is not published (orders.marker_field); this publication has НомерПоДаннымКлиента, ДатаПоДаннымКлиента",
		doc + ".Товары.Цена: want text (Edm.String), the publication has Edm.Double (orders.rows.fields.Цена)",
		doc + ".Запасы is not published (orders.rows.fields.Цена)", // the section, once
	}
	var gs []string
	for _, p := range got {
		gs = append(gs, p.String())
	}
	if !slices.Equal(gs, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(gs, "\n"), strings.Join(want, "\n"))
	}
}
