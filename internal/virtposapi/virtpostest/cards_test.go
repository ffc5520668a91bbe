package virtpostest

import (
	"net/http"
	"strings"
	"testing"
)

func TestEAN13(t *testing.T) {
	tests := []struct{ name, code string }{
		{"wikipedia example", "4006381333931"},
		{"GS1 example", "5901234123457"},
		{"ISBN-13", "9780306406157"},
		{"UPC-A as EAN-13", "0036000291452"},
		{"all zeros", "0000000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := EAN13CheckDigit(tt.code[:12])
			if err != nil || d != tt.code[12] {
				t.Errorf("check digit of %s = %c, %v; want %c", tt.code[:12], d, err, tt.code[12])
			}
		})
	}
	uids := []struct{ name, uid, want, err string }{
		{"short uid padded", "1001", "0000000010016", ""},
		{"12 digits", "400638133393", "4006381333931", ""},
		{"too long", "1234567890123", "", "1..12 digits"},
		{"letters", "12A4", "", "not a digit"},
		{"empty", "", "", "1..12 digits"},
	}
	for _, tt := range uids {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UIDEAN13(tt.uid)
			if got != tt.want || (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("UIDEAN13(%q) = %q, %v; want %q, %q", tt.uid, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestCards(t *testing.T) {
	type step struct {
		path        string
		params      []string
		wantSuccess string
		wantInfo    string
		wantID      string
		wantNew     string
	}
	tests := []struct {
		name  string
		steps []step
		check func(t *testing.T, s *Server)
	}{
		{name: "create generates uid_ean13 and barcode, type and owner",
			steps: []step{{path: PathCardUpdate, params: []string{"create_if_not_exist", "1", "uid", "2002", "external_id", "c1",
				"type_name", "Золотая", "customer_external_id", "8d2f1c4e-0b7a-11ee-9c3a-00155d01a002", "medium", "APP", "status", "NEW"},
				wantSuccess: "1", wantID: "2", wantNew: "1"}},
			check: func(t *testing.T, s *Server) {
				c, ok := s.Card("c1")
				want := "0000000020022"
				if !ok || c.UIDEAN13 != want || c.Barcode != want || c.TypeID != "1" || c.TypeName != "Золотая" || c.CustomerID != "4" || c.Medium != "APP" {
					t.Errorf("card = %+v", c)
				}
				if n := s.Counts().CardTypesCreated; n != 0 {
					t.Errorf("existing type name created %d types", n)
				}
			}},
		{name: "non-numeric uid gets an in-store barcode",
			steps: []step{{path: PathCardInsert, params: []string{"uid", "AB-7"}, wantSuccess: "1", wantID: "2", wantNew: "1"}},
			check: func(t *testing.T, s *Server) {
				c, _ := s.Card("AB-7")
				if c.UIDEAN13 != "" || c.Barcode != "2000000000022" {
					t.Errorf("card = %+v", c)
				}
			}},
		{name: "new type_name creates a type, type_id wins",
			steps: []step{
				{path: PathCardInsert, params: []string{"uid", "5", "type_name", "Платиновая"}, wantSuccess: "1", wantID: "2", wantNew: "1"},
				{path: PathCardInsert, params: []string{"uid", "6", "type_id", "2", "type_name", "Другая"}, wantSuccess: "1", wantID: "3", wantNew: "1"},
				{path: PathCardInsert, params: []string{"uid", "7", "type_id", "77"}, wantSuccess: "0", wantInfo: "card type 77 not found"},
			},
			check: func(t *testing.T, s *Server) {
				a, _ := s.Card("5")
				b, _ := s.Card("6")
				if a.TypeID != "3" || a.TypeName != "Платиновая" || b.TypeName != "Серебряная" || s.Counts().CardTypesCreated != 1 {
					t.Errorf("a=%+v b=%+v counts=%+v", a, b, s.Counts())
				}
			}},
		{name: "search order card_id, uid, external_id, card_barcode",
			steps: []step{
				{path: PathCardInsert, params: []string{"uid", "2"}, wantSuccess: "1", wantID: "2", wantNew: "1"},
				// card_id is searched first, so this is card 2 taking card 1's uid.
				{path: PathCardUpdate, params: []string{"card_id", "2", "uid", "1001"}, wantSuccess: "0", wantInfo: "already exists"},
				{path: PathCardDelete, params: []string{"card_id", "2"}, wantSuccess: "1"},
				{path: PathCardUpdate, params: []string{"card_id", "99", "uid", "1001", "status", "BLOCKED"}, wantSuccess: "1", wantID: "1", wantNew: "0"},
				{path: PathCardUpdate, params: []string{"external_id", "card-1001", "medium", "MAGNET"}, wantSuccess: "1", wantID: "1", wantNew: "0"},
				{path: PathCardUpdate, params: []string{"card_barcode", "0000000010016", "activate_date", "2017-08-01"}, wantSuccess: "1", wantID: "1", wantNew: "0"},
				{path: PathCardUpdate, params: []string{"card_barcode", "123"}, wantSuccess: "0", wantInfo: "card not found"},
			},
			check: func(t *testing.T, s *Server) {
				c, _ := s.Card("1001")
				if c.Status != "BLOCKED" || c.Medium != "MAGNET" || len(s.Cards()) != 1 {
					t.Errorf("card = %+v, cards = %d", c, len(s.Cards()))
				}
			}},
		{name: "validation",
			steps: []step{
				{path: PathCardUpdate, params: []string{"create_if_not_exist", "1", "uid", "9", "medium", "PAPER"}, wantSuccess: "0", wantInfo: "medium"},
				{path: PathCardUpdate, params: []string{"create_if_not_exist", "1", "uid", "9", "status", "LOST"}, wantSuccess: "0", wantInfo: "status"},
				{path: PathCardUpdate, params: []string{"create_if_not_exist", "1", "uid", "9", "customer_id", "42"}, wantSuccess: "0", wantInfo: "customer 42 not found"},
				{path: PathCardUpdate, params: []string{"create_if_not_exist", "1", "uid", "9", "customer_external_id", "zz"}, wantSuccess: "0", wantInfo: "external_id zz not found"},
				{path: PathCardUpdate, params: []string{"create_if_not_exist", "1", "external_id", "no-uid"}, wantSuccess: "0", wantInfo: "uid is required"},
				{path: PathCardInsert, params: []string{"uid", "1001"}, wantSuccess: "0", wantInfo: "already exists"},
			},
			check: func(t *testing.T, s *Server) {
				if len(s.Cards()) != 1 {
					t.Errorf("rejected calls changed cards: %+v", s.Cards())
				}
			}},
		{name: "customer_id wins over customer_external_id",
			steps: []step{{path: PathCardInsert, params: []string{"uid", "8", "customer_id", "3", "customer_external_id", "8d2f1c4e-0b7a-11ee-9c3a-00155d01a002"}, wantSuccess: "1", wantID: "2", wantNew: "1"}},
			check: func(t *testing.T, s *Server) {
				if c, _ := s.Card("8"); c.CustomerID != "3" {
					t.Errorf("owner %q, want 3", c.CustomerID)
				}
			}},
		{name: "delete by each key",
			steps: []step{
				{path: PathCardInsert, params: []string{"uid", "2", "external_id", "x2"}, wantSuccess: "1", wantID: "2", wantNew: "1"},
				{path: PathCardInsert, params: []string{"uid", "3"}, wantSuccess: "1", wantID: "3", wantNew: "1"},
				{path: PathCardInsert, params: []string{"uid", "4"}, wantSuccess: "1", wantID: "4", wantNew: "1"},
				{path: PathCardDelete, params: []string{"card_id", "1"}, wantSuccess: "1"},
				{path: PathCardDelete, params: []string{"external_id", "x2"}, wantSuccess: "1"},
				{path: PathCardDelete, params: []string{"uid", "3"}, wantSuccess: "1"},
				{path: PathCardDelete, params: []string{"card_barcode", "0000000000048"}, wantSuccess: "1"},
				{path: PathCardDelete, params: []string{"uid", "3"}, wantSuccess: "0", wantInfo: "card not found"},
				{path: PathCardDelete, params: []string{}, wantSuccess: "0", wantInfo: "required"},
			},
			check: func(t *testing.T, s *Server) {
				if n := len(s.Cards()); n != 0 || s.Counts().CardsDeleted != 4 {
					t.Errorf("cards left %d, counts %+v", n, s.Counts())
				}
			}},
	}
	for _, format := range []string{"xml", "json"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			for _, tt := range tests {
				t.Run(format+"/"+method+"/"+tt.name, func(t *testing.T) {
					s := newTestServer(t)
					if err := s.LoadSeedFile("testdata/seed.json"); err != nil {
						t.Fatal(err)
					}
					for i, st := range tt.steps {
						p := vals(st.params...)
						p.Set("format", format)
						_, _, body := call(t, s, method, st.path, p)
						r := decodeResult(t, format, body)
						if r.Success != st.wantSuccess || !strings.Contains(r.Info, st.wantInfo) || r.ID != st.wantID || r.IsNew != st.wantNew {
							t.Fatalf("step %d %s: got %+v, want success=%s info~%q id=%q isnew=%q",
								i, st.path, r, st.wantSuccess, st.wantInfo, st.wantID, st.wantNew)
						}
					}
					if tt.check != nil {
						tt.check(t, s)
					}
				})
			}
		}
	}
}
