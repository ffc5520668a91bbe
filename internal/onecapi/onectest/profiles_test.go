package onectest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/virtsync/virtsync/internal/onecapi"
)

// wantSchema is what the research on a configuration says it publishes,
// written out again here rather than read from the fake's schema: entity
// or row type -> "Name:t" pairs, t one of g (Guid), s (String), b
// (Boolean), n (Double), d (DateTime).
var wantSchema = map[string]map[string]string{
	ProfileUNF: {
		"Catalog_Контрагенты": "Ref_Key:g DataVersion:s DeletionMark:b Predefined:b PredefinedDataName:s Code:s Description:s " +
			"Parent_Key:g IsFolder:b НаименованиеПолное:s Покупатель:b Поставщик:b ВидКонтрагента:s Пол:s ДатаРождения:d ИНН:s Комментарий:s",
		"Catalog_Контрагенты_КонтактнаяИнформация_RowType": "Ref_Key:g Тип:s Вид_Key:g Представление:s АдресЭП:s НомерТелефона:s НомерТелефонаБезКодов:s",
		"Catalog_ВидыДисконтныхКарт":                       "Ref_Key:g DataVersion:s DeletionMark:b Description:s ТипКарты:s ЭтоИменнаяКарта:b Скидка:n",
		"Catalog_ДисконтныеКарты": "Ref_Key:g DataVersion:s DeletionMark:b Code:s Description:s Owner_Key:g КодКартыШтрихкод:s " +
			"КодКартыМагнитный:s ВладелецКарты_Key:g Комментарий:s",
		"Catalog_Номенклатура": "Ref_Key:g DataVersion:s DeletionMark:b Code:s Description:s Parent_Key:g IsFolder:b Артикул:s НаименованиеПолное:s ТипНоменклатуры:s",
		"Document_ЗаказПокупателя": "Ref_Key:g DataVersion:s Number:s Date:d DeletionMark:b Posted:b Контрагент_Key:g Договор_Key:g " +
			"Организация_Key:g СтруктурнаяЕдиницаРезерв_Key:g СтруктурнаяЕдиницаПродажи_Key:g ВалютаДокумента_Key:g СуммаДокумента:n " +
			"СуммаВключаетНДС:b Комментарий:s ВидОперации:s НомерВходящегоДокумента:s ДатаВходящегоДокумента:d ДисконтнаяКарта_Key:g " +
			"АдресДоставки:s СостояниеЗаказа:s СостояниеЗаказа_Type:s",
		"Document_ЗаказПокупателя_Запасы_RowType": "Ref_Key:g Номенклатура:s Номенклатура_Type:s Характеристика_Key:g Количество:n Цена:n " +
			"Сумма:n Всего:n ПроцентСкидкиНаценки:n СуммаСкидкиНаценки:n СуммаНДС:n СтавкаНДС_Key:g ЕдиницаИзмерения:s ЕдиницаИзмерения_Type:s",
	},
	ProfileRoznica: {
		"Catalog_ФизическиеЛица": "Ref_Key:g DataVersion:s DeletionMark:b Code:s Description:s Parent_Key:g IsFolder:b " +
			"Пол:s ДатаРождения:d ИНН:s Комментарий:s Сотрудник:b",
		"Catalog_ФизическиеЛица_КонтактнаяИнформация_RowType": "Тип:s Вид_Key:g Представление:s АдресЭП:s НомерТелефона:s",
		"Catalog_Контрагенты":        "Ref_Key:g DataVersion:s DeletionMark:b Code:s Description:s НаименованиеПолное:s ЮрФизЛицо:s ИНН:s КПП:s",
		"Catalog_ВидыДисконтныхКарт": "Ref_Key:g DataVersion:s DeletionMark:b Code:s Description:s",
		"Catalog_ИнформационныеКарты": "Ref_Key:g DataVersion:s DeletionMark:b Code:s Description:s Parent_Key:g IsFolder:b КодКарты:s " +
			"ВладелецКарты:s ВладелецКарты_Type:s ВидДисконтнойКарты_Key:g ВидКарты:s ТипКарты:s ДатаОткрытия:d",
		"Catalog_Номенклатура": "Ref_Key:g DataVersion:s DeletionMark:b Code:s Description:s Parent_Key:g IsFolder:b Артикул:s НаименованиеПолное:s",
		"Document_ЗаказПокупателя": "Ref_Key:g DataVersion:s Number:s Date:d DeletionMark:b Posted:b Организация_Key:g Магазин_Key:g Склад_Key:g " +
			"Контрагент_Key:g ДисконтнаяКарта_Key:g ВладелецДисконтнойКарты:s ВладелецДисконтнойКарты_Type:s СуммаДокумента:n " +
			"ЦенаВключаетНДС:b Комментарий:s Статус:s АдресДоставки:s НомерЗаказаНаСайте:s ДатаЗаказаНаСайте:d",
		"Document_ЗаказПокупателя_Товары_RowType": "Ref_Key:g Номенклатура_Key:g Характеристика_Key:g Упаковка_Key:g КоличествоУпаковок:n " +
			"Количество:n Цена:n Сумма:n СтавкаНДС:s СуммаНДС:n ПроцентРучнойСкидки:n СуммаРучнойСкидки:n",
	},
	ProfileUT11: {
		"Catalog_Партнеры":        "Ref_Key:g Code:s Description:s Клиент:b Поставщик:b ЮрФизЛицо:s Пол:s ДатаРождения:d",
		"Catalog_КартыЛояльности": "Ref_Key:g Owner_Key:g Штрихкод:s МагнитныйКод:s Статус:s Партнер_Key:g",
		"Document_ЗаказКлиента":   "Ref_Key:g Number:s Date:d Posted:b Партнер_Key:g КартаЛояльности_Key:g",
	},
}

// notPublished are properties a profile must not have: a composite
// reference has no X_Key, and the profiles differ from УТ 11.
var notPublished = map[string]map[string][]string{
	ProfileUNF: {
		"Document_ЗаказПокупателя":                {"СостояниеЗаказа_Key", "Статус", "Партнер_Key"},
		"Document_ЗаказПокупателя_Запасы_RowType": {"Номенклатура_Key", "ЕдиницаИзмерения_Key"},
		"Catalog_ДисконтныеКарты":                 {"Статус", "Штрихкод"},
	},
	ProfileRoznica: {
		"Catalog_ИнформационныеКарты":             {"ВладелецКарты_Key", "Owner_Key"},
		"Document_ЗаказПокупателя":                {"ВладелецДисконтнойКарты_Key", "Договор_Key", "ВалютаДокумента_Key"},
		"Document_ЗаказПокупателя_Товары_RowType": {"Всего", "ЕдиницаИзмерения", "СтавкаНДС_Key"},
	},
}

var edmLetters = map[string]string{"g": "Edm.Guid", "s": "Edm.String", "b": "Edm.Boolean", "n": "Edm.Double", "d": "Edm.DateTime"}

func startProfile(t *testing.T, profile string) (*Server, string) {
	t.Helper()
	return StartDemo(t, Options{User: testUser, Password: testPass, Profile: profile}, 24, 16, 3, 5)
}

func TestProfileMetadata(t *testing.T) {
	for _, profile := range Profiles() {
		t.Run(profile, func(t *testing.T) {
			s, base := startProfile(t, profile)
			r := call(t, "GET", base+"$metadata", "")
			if r.status != 200 {
				t.Fatalf("$metadata: %d %s", r.status, r.body)
			}
			md, err := onecapi.ParseMetadata(bytes.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			for typ, spec := range wantSchema[profile] {
				props, ok := md.Entities[typ]
				if !ok {
					props, ok = md.Complex[typ]
				}
				if !ok {
					t.Errorf("no type %s", typ)
					continue
				}
				for _, pair := range strings.Fields(spec) {
					name, letter, _ := strings.Cut(pair, ":")
					if got := props[name]; got != edmLetters[letter] {
						t.Errorf("%s.%s: %q, want %s", typ, name, got, edmLetters[letter])
					}
				}
				if !strings.HasSuffix(typ, "_RowType") && !md.HasEntity(typ) {
					t.Errorf("no entity set %s", typ)
				}
			}
			for typ, names := range notPublished[profile] {
				props := md.Entities[typ]
				if props == nil {
					props = md.Complex[typ]
				}
				for _, n := range names {
					if _, ok := props[n]; ok {
						t.Errorf("%s has %s", typ, n)
					}
				}
			}
			sets := s.Sets()
			_, setNames, posts := typeIndex(t, r.body)
			for _, set := range []string{sets.Buyers, sets.CardKinds, sets.Cards, sets.Items, sets.Orders, sets.Orders + "_" + sets.OrderGoods} {
				if !setNames[set] {
					t.Errorf("no EntitySet %s", set)
				}
			}
			if !posts[sets.Orders] {
				t.Errorf("no Post for %s", sets.Orders)
			}
			if want, _ := SetsOf(profile); want != sets {
				t.Errorf("SetsOf(%s) = %+v, server has %+v", profile, want, sets)
			}
		})
	}
}

// TestProfileSetsRead reads a page of every set the fake publishes,
// tabular sections too, and finds the demo in the sets that hold it.
func TestProfileSetsRead(t *testing.T) {
	for _, profile := range Profiles() {
		t.Run(profile, func(t *testing.T) {
			s, base := startProfile(t, profile)
			filled := map[string]bool{}
			sets := s.Sets()
			for _, set := range []string{sets.Buyers, sets.CardKinds, sets.Cards, sets.Items} {
				filled[set] = true
			}
			for _, typ := range s.types {
				names := []string{typ.Name}
				for _, tab := range typ.Tabs {
					names = append(names, typ.Name+"_"+tab.Name)
				}
				for _, n := range names {
					c := decodeCollection(t, call(t, "GET", odataURL(base, n, "$format", "json", "$top", "5", "$orderby", "Ref_Key"), ""))
					if filled[n] && len(c.Value) == 0 {
						t.Errorf("%s: empty page", n)
					}
				}
			}
		})
	}
}

// orderBody is an order of a profile in the shape its clients write it.
func orderBody(t *testing.T, s *Server, profile string, extra map[string]any) map[string]any {
	t.Helper()
	buyer, card, item := demoClient(t, s), firstOf(t, s, s.Sets().Cards), firstOf(t, s, s.Sets().Items)
	var o map[string]any
	switch profile {
	case ProfileUNF:
		o = map[string]any{
			"Date": "2026-03-01T10:00:00", "Контрагент_Key": buyer, "Договор_Key": EmptyGUID, "Организация_Key": keyBoris,
			"СтруктурнаяЕдиницаРезерв_Key": keyYana, "СтруктурнаяЕдиницаПродажи_Key": keyYana, "ВалютаДокумента_Key": keyItem,
			"СуммаДокумента": 150.5, "СуммаВключаетНДС": true, "Комментарий": "virtpos order 7", "ВидОперации": "ЗаказНаПродажу",
			"НомерВходящегоДокумента": "VP-7", "ДатаВходящегоДокумента": "2026-03-01T09:59:00", "ДисконтнаяКарта_Key": card,
			"АдресДоставки": "г. Екатеринбург", "СостояниеЗаказа": keyOrder, "СостояниеЗаказа_Type": TypeOf("Catalog_СостоянияЗаказовПокупателей"),
			"Posted": false,
			"Запасы": []any{map[string]any{
				"LineNumber": "1", "Номенклатура": item, "Номенклатура_Type": TypeOf(SetUNFItems), "Характеристика_Key": EmptyGUID,
				"Количество": 2, "Цена": 75.25, "Сумма": 150.5, "Всего": 150.5, "ПроцентСкидкиНаценки": 0, "СуммаСкидкиНаценки": 0,
				"СуммаНДС": 25.08, "СтавкаНДС_Key": keyBoris, "ЕдиницаИзмерения": keyYana,
				"ЕдиницаИзмерения_Type": TypeOf("Catalog_КлассификаторЕдиницИзмерения"),
			}},
		}
	case ProfileRoznica:
		o = map[string]any{
			"Date": "2026-03-01T10:00:00", "Организация_Key": keyBoris, "Магазин_Key": keyYana, "Склад_Key": keyYana,
			"Контрагент_Key": EmptyGUID, "ДисконтнаяКарта_Key": card, "ВладелецДисконтнойКарты": buyer,
			"ВладелецДисконтнойКарты_Type": TypeOf(SetRoznicaPersons), "СуммаДокумента": 150.5, "ЦенаВключаетНДС": true,
			"Комментарий": "virtpos order 7", "Статус": "НеСогласован", "АдресДоставки": "г. Екатеринбург",
			"НомерЗаказаНаСайте": "VP-7", "ДатаЗаказаНаСайте": "2026-03-01T09:59:00", "Posted": false,
			"Товары": []any{map[string]any{
				"LineNumber": "1", "Номенклатура_Key": item, "Характеристика_Key": EmptyGUID, "Упаковка_Key": EmptyGUID,
				"КоличествоУпаковок": 2, "Количество": 2, "Цена": 75.25, "Сумма": 150.5, "СтавкаНДС": "НДС20", "СуммаНДС": 25.08,
				"ПроцентРучнойСкидки": 0, "СуммаРучнойСкидки": 0,
			}},
		}
	default:
		o = map[string]any{
			"Date": "2026-03-01T10:00:00", "Партнер_Key": buyer, "КартаЛояльности_Key": card, "СуммаДокумента": 150.5,
			"НомерПоДаннымКлиента": "VP-7", "Posted": false,
			"Товары": []any{map[string]any{"Номенклатура_Key": item, "Количество": 2, "Цена": 75.25, "Сумма": 150.5}},
		}
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// demoClient is the key of a client of the demo (not a folder, not staff,
// not a supplier).
func demoClient(t *testing.T, s *Server) string {
	t.Helper()
	for _, o := range s.All(s.Sets().Buyers) {
		if o["IsFolder"] == true || o["Поставщик"] == true || o["Сотрудник"] == true {
			continue
		}
		return o["Ref_Key"].(string)
	}
	t.Fatal("no client in the demo")
	return ""
}

func firstOf(t *testing.T, s *Server, set string) string {
	t.Helper()
	for _, o := range s.All(set) {
		if o["IsFolder"] != true {
			return o["Ref_Key"].(string)
		}
	}
	t.Fatalf("%s is empty", set)
	return ""
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProfileOrderWrites(t *testing.T) {
	for _, profile := range Profiles() {
		t.Run(profile, func(t *testing.T) {
			s, base := startProfile(t, profile)
			sets := s.Sets()
			u := odataURL(base, sets.Orders, "$format", "json")
			body := orderBody(t, s, profile, nil)
			r := call(t, "POST", u, mustJSON(t, body))
			if r.status != 201 {
				t.Fatalf("POST %s: %d %s", sets.Orders, r.status, r.body)
			}
			var got map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			key := got["Ref_Key"].(string)
			stored, _ := s.Get(sets.Orders, key)
			rows := stored[sets.OrderGoods].([]Object)
			if len(rows) != 1 || stored["Number"] == "" {
				t.Fatalf("stored %v", stored)
			}
			for name, v := range body[sets.OrderGoods].([]any)[0].(map[string]any) {
				if s, ok := v.(string); ok && name != "LineNumber" && rows[0][name] != s {
					t.Errorf("row %s = %v, want %v", name, rows[0][name], s)
				}
			}
			if r := call(t, "POST", base+sets.Orders+"(guid'"+key+"')/Post?$format=json", ""); r.status != 200 {
				t.Fatalf("Post: %d %s", r.status, r.body)
			}
			if o, _ := s.Get(sets.Orders, key); o["Posted"] != true {
				t.Error("Post did not post")
			}

			bad := []struct {
				name string
				body map[string]any
				code string
			}{
				{"unknown property", orderBody(t, s, profile, map[string]any{"НетТакогоСвойства": "x"}), "10"},
				{"unknown row property", orderBody(t, s, profile, map[string]any{
					sets.OrderGoods: []any{map[string]any{"НетТакогоСвойства": 1}}}), "10"},
				{"a number for a string", orderBody(t, s, profile, map[string]any{"Комментарий": 5}), "4"},
			}
			for _, b := range bad {
				t.Run(b.name, func(t *testing.T) {
					wantError(t, call(t, "POST", u, mustJSON(t, b.body)), 400, b.code)
				})
			}
		})
	}
}

// TestMaxLength: a string longer than the field holds (in characters, not
// bytes) is refused with 1C's "bad value" error naming the property, on
// every way in.
func TestMaxLength(t *testing.T) {
	cases := []struct {
		profile, field string
		max            int
	}{
		{ProfileUNF, "НомерВходящегоДокумента", 30},
		{ProfileRoznica, "НомерЗаказаНаСайте", 11},
		{ProfileRoznica, "Number", 11},
	}
	for _, tc := range cases {
		t.Run(tc.profile+"/"+tc.field, func(t *testing.T) {
			s, base := startProfile(t, tc.profile)
			set := s.Sets().Orders
			u := odataURL(base, set, "$format", "json")
			fits := strings.Repeat("Ж", tc.max) // twice as many bytes
			r := call(t, "POST", u, mustJSON(t, orderBody(t, s, tc.profile, map[string]any{tc.field: fits})))
			if r.status != 201 {
				t.Fatalf("%d characters: %d %s", tc.max, r.status, r.body)
			}
			var created map[string]any
			_ = json.Unmarshal(r.body, &created)
			key := created["Ref_Key"].(string)
			long := fits + "1"
			e := wantError(t, call(t, "POST", u, mustJSON(t, orderBody(t, s, tc.profile, map[string]any{tc.field: long}))), 400, "4")
			if !strings.Contains(e.Err.Message.Value, tc.field) {
				t.Errorf("message %q does not name %s", e.Err.Message.Value, tc.field)
			}
			wantError(t, call(t, "PATCH", base+set+"(guid'"+key+"')?$format=json", mustJSON(t, map[string]any{tc.field: long})), 400, "4")
			if _, err := s.Update(set, key, Object{tc.field: long}); err == nil {
				t.Error("Update took a value too long")
			}
			if o, _ := s.Get(set, key); o[tc.field] != fits {
				t.Errorf("%s = %v after the refused writes", tc.field, o[tc.field])
			}
		})
	}
	// УТ 11 sets no limits.
	s := New(Options{})
	if _, err := s.Put(SetOrders, Object{"Date": "2026-01-01T00:00:00", "НомерПоДаннымКлиента": strings.Repeat("x", 200)}); err != nil {
		t.Errorf("ut11: %v", err)
	}
}

// TestProfileDemo holds each profile's demo to what its readers rely on.
func TestProfileDemo(t *testing.T) {
	const customers, cards, kinds = 40, 30, 3
	isClient := func(i int) bool { return i%8 != 7 }
	t.Run(ProfileUNF, func(t *testing.T) {
		seed, err := DemoSeedProfile(ProfileUNF, customers, cards, kinds, 8)
		if err != nil {
			t.Fatal(err)
		}
		s := New(Options{Profile: ProfileUNF})
		if err := s.Load(seed); err != nil {
			t.Fatal(err)
		}
		buyers := s.All(SetUNFBuyers)
		if len(buyers) != customers+1 {
			t.Fatalf("%d Контрагенты, want %d and a folder", len(buyers), customers)
		}
		folder := buyers[0]
		if folder["IsFolder"] != true || folder["Description"] != "Покупатели" || folder["Покупатель"] != false {
			t.Fatalf("first Контрагент is not the folder: %v", folder)
		}
		clients := map[string]bool{}
		kindsOf := map[string]bool{}
		for i, b := range buyers[1:] {
			if b["IsFolder"] != false || b["Покупатель"] != isClient(i) || b["Поставщик"] == isClient(i) {
				t.Errorf("Контрагент %d: %v", i, b)
			}
			if isClient(i) != (b["Parent_Key"] == folder["Ref_Key"]) {
				t.Errorf("Контрагент %d: Parent_Key %v", i, b["Parent_Key"])
			}
			kindsOf[b["ВидКонтрагента"].(string)] = true
			if b["Покупатель"] == true {
				clients[b["Ref_Key"].(string)] = true
			}
			if len(b["КонтактнаяИнформация"].([]Object)) < 2 {
				t.Errorf("Контрагент %d has no contacts", i)
			}
		}
		if !kindsOf["ФизическоеЛицо"] || !kindsOf["ЮридическоеЛицо"] || len(kindsOf) != 2 {
			t.Errorf("ВидКонтрагента: %v", kindsOf)
		}
		cardKinds := map[string]bool{}
		for _, k := range s.All(SetUNFCardKinds) {
			cardKinds[k["Ref_Key"].(string)] = true
			if k["ТипКарты"] == "" || k["ЭтоИменнаяКарта"] != true || k["Скидка"].(interface{ IsZero() bool }).IsZero() {
				t.Errorf("card kind %v", k)
			}
		}
		all := s.All(SetUNFCards)
		if len(all) != cards {
			t.Fatalf("%d cards, want %d", len(all), cards)
		}
		for _, c := range all {
			if !clients[c["ВладелецКарты_Key"].(string)] || !cardKinds[c["Owner_Key"].(string)] {
				t.Errorf("card %v: owner or kind unknown", c["Code"])
			}
			if c["КодКартыШтрихкод"] == "" && c["КодКартыМагнитный"] == "" {
				t.Errorf("card %v has no code", c["Code"])
			}
		}
		checkItems(t, s.All(SetUNFItems))
	})
	t.Run(ProfileRoznica, func(t *testing.T) {
		seed, err := DemoSeedProfile(ProfileRoznica, customers, cards, kinds, 8)
		if err != nil {
			t.Fatal(err)
		}
		s := New(Options{Profile: ProfileRoznica})
		if err := s.Load(seed); err != nil {
			t.Fatal(err)
		}
		persons := s.All(SetRoznicaPersons)
		if len(persons) != customers+1 || persons[0]["IsFolder"] != true || persons[0]["Description"] != "Покупатели" {
			t.Fatalf("%d persons, the first %v", len(persons), persons[0])
		}
		clients := map[string]bool{}
		for i, p := range persons[1:] {
			if p["Сотрудник"] == isClient(i) || p["IsFolder"] != false {
				t.Errorf("person %d: %v", i, p)
			}
			if strings.HasPrefix(p["Description"].(string), "ООО") || strings.HasPrefix(p["Description"].(string), "АО") {
				t.Errorf("person %d is a company: %v", i, p["Description"])
			}
			if isClient(i) {
				clients[p["Ref_Key"].(string)] = true
			}
		}
		cardKinds := map[string]bool{}
		for _, k := range s.All(SetRoznicaCardKinds) {
			cardKinds[k["Ref_Key"].(string)] = true
		}
		all := s.All(SetRoznicaCards)
		if len(all) != cards+1 || all[0]["IsFolder"] != true {
			t.Fatalf("%d cards, the first %v; want %d and a folder first", len(all), all[0], cards)
		}
		types := map[any]bool{}
		for _, c := range all[1:] {
			if !clients[c["ВладелецКарты"].(string)] || c["ВладелецКарты_Type"] != "StandardODATA.Catalog_ФизическиеЛица" {
				t.Errorf("card %v: owner %v of %v", c["Code"], c["ВладелецКарты"], c["ВладелецКарты_Type"])
			}
			if !cardKinds[c["ВидДисконтнойКарты_Key"].(string)] || c["ТипКарты"] != "Дисконтная" || c["КодКарты"] == "" ||
				c["ДатаОткрытия"] == EmptyDate {
				t.Errorf("card %v", c)
			}
			types[c["ВидКарты"]] = true
		}
		if len(types) != 3 {
			t.Errorf("ВидКарты: %v", types)
		}
		checkItems(t, s.All(SetRoznicaItems))
		if n := len(s.All(SetRoznicaCounterparties)); n != 0 {
			t.Errorf("%d Контрагенты, want none", n)
		}
	})
}

func checkItems(t *testing.T, items []Object) {
	t.Helper()
	if len(items) != DemoItems {
		t.Fatalf("%d items", len(items))
	}
	for i, it := range items {
		if it["Code"] != DemoItemCode(i) || it["Артикул"] == "" {
			t.Errorf("item %d: %v", i, it)
		}
	}
}

// TestProfileLoadDemoStoresDemoSeed: the streamed demo of every profile
// is the seed's, as TestLoadDemoStoresDemoSeed holds for УТ 11.
func TestProfileLoadDemoStoresDemoSeed(t *testing.T) {
	for _, profile := range Profiles() {
		t.Run(profile, func(t *testing.T) {
			seed, err := DemoSeedProfile(profile, 90, 70, 4, 3)
			if err != nil {
				t.Fatal(err)
			}
			seeded, streamed := New(Options{Profile: profile}), New(Options{Profile: profile})
			if err := seeded.Load(seed); err != nil {
				t.Fatal(err)
			}
			if err := streamed.LoadDemo(90, 70, 4, 3); err != nil {
				t.Fatal(err)
			}
			for _, typ := range seeded.types {
				a, b := seeded.All(typ.Name), streamed.All(typ.Name)
				if len(a) != len(b) {
					t.Fatalf("%s: %d objects seeded, %d streamed", typ.Name, len(a), len(b))
				}
				for i := range a {
					delete(a[i], "DataVersion")
					delete(b[i], "DataVersion")
					if !reflect.DeepEqual(a[i], b[i]) {
						t.Fatalf("%s[%d]:\nseeded   %v\nstreamed %v", typ.Name, i, a[i], b[i])
					}
				}
			}
			// Both numbered past the demo's codes, the folder's included.
			sets := seeded.Sets()
			for _, s := range []*Server{seeded, streamed} {
				o, err := s.Put(sets.Buyers, Object{"Description": "Новый"})
				want := "00-00000091"
				if profile != ProfileUT11 {
					want = "00-00000092" // after the folder
				}
				if err != nil || o["Code"] != want {
					t.Errorf("next Code = %v, %v; want %s", o["Code"], err, want)
				}
			}
		})
	}
}

// TestUT11DemoUnchanged pins the УТ 11 demo and $metadata: tests across
// the project and recorded figures rely on their exact content.
func TestUT11DemoUnchanged(t *testing.T) {
	b, err := json.Marshal(DemoSeed(150, 120, 4, 3))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != "5d7ff1fbc813390b4fc0ab41a4b4cf9ce933b4c0e1da45e7f747267989e7eb9b" {
		t.Errorf("DemoSeed(150, 120, 4, 3) changed: sha256 %s", got)
	}
	sum = sha256.Sum256(New(Options{}).metadataXML())
	if got := hex.EncodeToString(sum[:]); got != "4e60936cf910c6ab6938350c7f0bc323bc8a84382803ab7d7cf36dba980a04d2" {
		t.Errorf("the УТ 11 $metadata changed: sha256 %s", got)
	}
}

func TestUnknownProfile(t *testing.T) {
	for _, name := range []string{"", ProfileUT11, ProfileUNF, ProfileRoznica} {
		if err := ValidateProfile(name); err != nil {
			t.Errorf("ValidateProfile(%q): %v", name, err)
		}
	}
	err := ValidateProfile("nope")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "ut11, unf, roznica") {
		t.Fatalf("ValidateProfile(nope) = %v", err)
	}
	if _, err := DemoSeedProfile("UT11", 1, 0, 0, 1); err == nil {
		t.Error("DemoSeedProfile took a name of the wrong case")
	}
	if _, err := SetsOf("nope"); err == nil {
		t.Error("SetsOf took an unknown name")
	}
	defer func() {
		if recover() == nil {
			t.Error("New served an unknown profile")
		}
	}()
	New(Options{Profile: "nope"})
}

// TestCompositeFieldsQuery: ordering and filtering by a composite
// reference compare its strings.
func TestCompositeFieldsQuery(t *testing.T) {
	s, base := startProfile(t, ProfileRoznica)
	owner := demoClient(t, s)
	var owned int
	for _, c := range s.All(SetRoznicaCards) {
		if c["ВладелецКарты"] == owner {
			owned++
		}
	}
	cases := []struct {
		name, filter, orderby string
		want                  int // -1: any
	}{
		{"order by the reference", "", "ВладелецКарты desc,ВладелецКарты_Type", 17},
		{"filter by its type", "ВладелецКарты_Type eq '" + TypeOf(SetRoznicaPersons) + "'", "", 16},
		{"filter by its GUID text", "ВладелецКарты eq '" + owner + "'", "", owned},
		{"filter and order", "IsFolder eq false and ВладелецКарты ne ''", "ВладелецКарты", 16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kv := []string{"$format", "json"}
			if tc.filter != "" {
				kv = append(kv, "$filter", tc.filter)
			}
			if tc.orderby != "" {
				kv = append(kv, "$orderby", tc.orderby)
			}
			c := decodeCollection(t, call(t, "GET", odataURL(base, SetRoznicaCards, kv...), ""))
			if len(c.Value) != tc.want {
				t.Errorf("%d cards, want %d", len(c.Value), tc.want)
			}
		})
	}
	// A guid literal against a string is 1C's type error, not a crash.
	r := call(t, "GET", odataURL(base, SetRoznicaCards, "$format", "json", "$filter", "ВладелецКарты eq guid'"+owner+"'"), "")
	if r.status >= 500 {
		t.Errorf("guid literal on a composite: %d %s", r.status, r.body)
	}
	// A composite in a tabular section published as a set.
	s, base = startProfile(t, ProfileUNF)
	order := orderBody(t, s, ProfileUNF, nil)
	if r := call(t, "POST", odataURL(base, SetUNFOrders, "$format", "json"), mustJSON(t, order)); r.status != 201 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	rows := decodeCollection(t, call(t, "GET", odataURL(base, SetUNFOrders+"_"+TabUNFOrderGoods, "$format", "json",
		"$filter", "Номенклатура_Type eq '"+TypeOf(SetUNFItems)+"'", "$orderby", "Номенклатура,ЕдиницаИзмерения desc"), ""))
	if len(rows.Value) != 1 {
		t.Errorf("%d order rows, want 1", len(rows.Value))
	}
}

// TestChurnRenewsCardCodes: a card the churn fault copies gets codes of
// its own in every profile.
func TestChurnRenewsCardCodes(t *testing.T) {
	for _, profile := range Profiles() {
		t.Run(profile, func(t *testing.T) {
			s := New(Options{Profile: profile})
			if err := s.LoadDemo(16, 10, 3, 2); err != nil {
				t.Fatal(err)
			}
			es := s.sets[s.Sets().Cards]
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, seq := range es.live() {
				o := es.object(es.rec(seq))
				if o["IsFolder"] == true {
					continue
				}
				c := s.churnCopy(es, es.object(es.rec(seq)))
				for _, name := range es.typ.cardCodes {
					if o[name] != "" && (c[name] == o[name] || c[name] == "") {
						t.Errorf("%s: %v copied as %v", name, o[name], c[name])
					}
					if o[name] == o["Description"] && c["Description"] != c[name] {
						t.Errorf("the copy is called %v, its code is %v", c["Description"], c[name])
					}
				}
			}
		})
	}
}
