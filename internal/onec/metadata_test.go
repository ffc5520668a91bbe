package onec

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
		name        string
		want        map[string][]string
		wantMissing []string
	}{
		{"all present", map[string][]string{"Catalog_Партнеры": {"Ref_Key", "Пол", "КонтактнаяИнформация", "КонтактнаяИнформация.АдресЭП"}}, nil},
		{
			name: "every missing item named",
			want: map[string][]string{
				"Catalog_Партнеры":        {"Description", "ДатаРождения", "КонтактнаяИнформация.НомерТелефона", "Пол.Нет"},
				"Catalog_КартыЛояльности": {"Штрихкод"},
			},
			wantMissing: []string{"Catalog_КартыЛояльности", "Catalog_Партнеры.ДатаРождения",
				"Catalog_Партнеры.КонтактнаяИнформация.НомерТелефона", "Catalog_Партнеры.Пол.Нет"},
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
			err := c.CheckMetadata(t.Context(), tt.want)
			if tt.wantMissing == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("err = %v, want *MetadataError", err)
			}
			if !slices.Equal(me.Missing, tt.wantMissing) {
				t.Fatalf("missing = %v, want %v", me.Missing, tt.wantMissing)
			}
			msg := err.Error()
			for _, s := range append(tt.wantMissing, "SetStandardODataInterfaceContent", "УстановитьСоставСтандартногоИнтерфейсаOData") {
				if !strings.Contains(msg, s) {
					t.Errorf("message lacks %q: %s", s, msg)
				}
			}
		})
	}
}

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
	want := map[string][]string{
		"Document_ЗаказКлиента": {"Ref_Key", "DataVersion", "Number", "Date", "Posted", "Партнер_Key", "Контрагент_Key",
			"НомерПоДаннымКлиента", "СуммаДокумента", "Товары.Номенклатура_Key", "Товары.Количество", "Товары.Цена", "Товары.Сумма"},
		"Catalog_Контрагенты": {"Description", "Партнер_Key", "КонтактнаяИнформация.Тип", "КонтактнаяИнформация.Представление"},
	}
	if missing := m.Missing(want); len(missing) != 0 {
		t.Errorf("fields DESIGN.md relies on are missing from the real capture: %v", missing)
	}
	// The capture publishes no Catalog_Партнеры: the check must say so.
	if missing := m.Missing(map[string][]string{"Catalog_Партнеры": {"Description"}}); !slices.Equal(missing, []string{"Catalog_Партнеры"}) {
		t.Errorf("missing = %v", missing)
	}
}
