package onectest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"

	"github.com/shopspring/decimal"
)

// Seed is initial data: entity set name to objects in 1C's JSON shape
// (e.g. {"Catalog_Партнеры": [{"Ref_Key": "...", "Description": "..."}]}).
// DataVersion in a seed is ignored: the fake assigns its own.
type Seed map[string][]Object

// LoadSeedFile reads a Seed from a JSON file, keeping numbers exact.
func LoadSeedFile(path string) (Seed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open seed: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	var s Seed
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("decode seed %s: %w", path, err)
	}
	return s, nil
}

// Load adds every object of the seed (sets in name order, objects in file
// order). It stops at the first invalid object.
func (s *Server) Load(seed Seed) error {
	names := make([]string, 0, len(seed))
	for n := range seed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for i, o := range seed[n] {
			if err := s.load(n, o); err != nil {
				return fmt.Errorf("load seed %s[%d]: %w", n, i, err)
			}
		}
	}
	return nil
}

// load is Put without the copy of the stored object.
func (s *Server) load(set string, o Object) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.set(set)
	if err != nil {
		return err
	}
	built, err := buildObject(es.typ, nil, o)
	if err != nil {
		return err
	}
	s.put(es, built)
	return nil
}

// DemoItemCode is the Code of the i-th demo Номенклатура item (0-based):
// "1001".."1020". The demo virtpos catalogue uses the same numbers as
// item_id, so orders map to items by Code.
func DemoItemCode(i int) string { return strconv.Itoa(1001 + i) }

// DemoItems is how many Номенклатура items DemoSeed makes.
const DemoItems = 20

var (
	demoMaleLast    = []string{"Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков", "Морозов", "Волков", "Соловьёв"}
	demoMaleFirst   = []string{"Иван", "Алексей", "Сергей", "Дмитрий", "Андрей", "Михаил", "Николай", "Юрий", "Пётр"}
	demoFemaleFirst = []string{"Анна", "Мария", "Елена", "Ольга", "Татьяна", "Наталья", "Ирина", "Юлия", "Светлана"}
	demoPatronym    = []string{"Иванов", "Петров", "Сергеев", "Алексеев", "Николаев", "Андреев", "Михайлов"}
	demoTranslit    = []string{"ivanov", "petrov", "smirnov", "kuznetsov", "popov", "sokolov", "lebedev", "kozlov", "novikov", "morozov", "volkov", "solovyov"}
	demoCompanies   = []string{`ООО "Ромашка"`, `АО "Заря"`, `ООО "Всё для дома"`, `ИП Сидоров`, `ООО "ТоргСнаб"`}
	demoGoods       = []string{"Молоко 3,2% 1 л", "Хлеб «Бородинский»", "Сыр Российский 200 г", "Кефир 1% 900 мл", "Масло сливочное 82,5%", "Яйцо С1 10 шт", "Чай чёрный 100 пак.", "Кофе молотый 250 г", "Сахар-песок 1 кг", "Гречка ядрица 800 г", "Рис длиннозёрный 900 г", "Макароны «Перья»", "Шоколад горький 72%", "Печенье овсяное", "Сок яблочный 1 л", "Вода минеральная 1,5 л", "Колбаса докторская", "Сосиски молочные", "Пельмени «Сибирские»", "Мороженое пломбир"}
	demoCardKinds   = []struct{ name, typ, percent string }{{"Дисконтная 5%", "Штриховая", "5"}, {"Бонусная магнитная", "Магнитная", "3"}, {"Золотая", "Смешанная", "10"}}
	demoPhoneKind   = "a1b2c3d4-0000-4000-8000-000000000001"
	demoEmailKind   = "a1b2c3d4-0000-4000-8000-000000000002"
)

func demoGUID(r *rand.Rand) guid {
	var g guid
	for i := range g {
		g[i] = byte(r.IntN(256))
	}
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// The demo formats its numbers by hand rather than with fmt: a demo of a
// million partners spent most of its time in Sprintf.

// pad appends n in decimal, zero-padded to width digits.
func pad(b []byte, n int64, width int) []byte {
	var d [20]byte
	digits := strconv.AppendInt(d[:0], n, 10)
	for i := len(digits); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, digits...)
}

// padded is pad as a string after a prefix.
func padded(prefix string, n int64, width int) string {
	return string(pad([]byte(prefix), n, width))
}

// demoPhone renders one number in one of the formats people type into 1C.
func demoPhone(r *rand.Rand) (pres, local string) {
	code := strconv.Itoa(900 + r.IntN(100))
	a, b, c := 100+r.IntN(900), int64(10+r.IntN(90)), int64(10+r.IntN(90))
	as := strconv.Itoa(a)
	local = string(pad(pad([]byte(as), b, 2), c, 2))
	var p []byte
	switch r.IntN(4) {
	case 0:
		p = append([]byte("8 ("+code+") "+as), '-')
		p = append(pad(p, b, 2), '-')
	case 1:
		p = pad([]byte("+7 "+code+" "+as+" "), b, 2)
	case 2:
		p = pad([]byte("+7("+code+")"+as), b, 2)
	default:
		p = pad([]byte("8"+code+as), b, 2)
	}
	return string(pad(p, c, 2)), local
}

// DemoSeed builds a realistic, deterministic УТ 11 base: customers
// partners (about every 8th is a supplier with Клиент=false, some are
// companies), one Контрагент each, kinds card kinds cycling through
// Штриховая/Магнитная/Смешанная, cards owned by client partners, and
// DemoItems Номенклатура items whose Code is DemoItemCode(i).
func DemoSeed(customers, cards, kinds int, seed int64) Seed {
	out, _ := DemoSeedProfile(ProfileUT11, customers, cards, kinds, seed) // a known profile
	return out
}

// DemoSeedProfile is DemoSeed for a profile: the same people, card kinds,
// cards and items, wherever the profile keeps them (see ProfileSets).
//   - УНФ: the people are Контрагенты (Покупатель for clients, Поставщик
//     for the others), and one folder "Покупатели" holds the clients;
//     cards are ДисконтныеКарты with Owner_Key the kind and
//     ВладелецКарты_Key the client.
//   - Розница: the people are ФизическиеЛица (the non-clients are staff,
//     Сотрудник = true; no companies), clients in the folder "Покупатели";
//     cards are ИнформационныеКарты with one code, КодКарты, the owner in
//     the composite ВладелецКарты, in a catalog that also has one folder.
//
// Items have the same Codes in every profile. The УТ 11 base is the same
// as DemoSeed's; the others draw differently.
func DemoSeedProfile(profile string, customers, cards, kinds int, seed int64) (Seed, error) {
	p, err := lookupProfile(profile)
	if err != nil {
		return nil, err
	}
	out := Seed{}
	_ = demoEach(p.demo, customers, cards, kinds, seed, func(d *demoObject) error {
		out[d.set] = append(out[d.set], d.object())
		return nil
	})
	return out, nil
}

// LoadDemo adds the objects of DemoSeedProfile(the server's profile,
// customers, cards, kinds, seed) without holding the seed: each object is
// encoded into the store as it is made, never built as an Object, so a
// million partners load in seconds and cost the store's memory only. Each
// set gets the same objects in the same order as with Load(DemoSeed(...));
// DataVersions differ, as the sets are filled side by side.
func (s *Server) LoadDemo(customers, cards, kinds int, seed int64) error {
	l := s.profile.demo
	s.mu.Lock()
	for set, n := range map[string]int{l.sets.Buyers: customers, l.counterparties: customers, l.sets.Cards: cards} {
		if es, ok := s.sets[set]; ok {
			es.reserve(n)
		}
	}
	s.mu.Unlock()
	return demoEach(l, customers, cards, kinds, seed, s.loadDemo)
}

// demoProp is one property of a demo object: a text, a reference, a
// Boolean, or a number (its decimal text).
type demoProp struct {
	name   string
	text   string
	ref    guid
	isRef  bool
	isBool bool
	isNum  bool
	b      bool
}

func demoText(name, v string) demoProp { return demoProp{name: name, text: v} }
func demoRef(name string, g guid) demoProp {
	return demoProp{name: name, ref: g, isRef: true}
}
func demoBool(name string, v bool) demoProp {
	return demoProp{name: name, isBool: true, b: v}
}
func demoNum(name, decimal string) demoProp { return demoProp{name: name, text: decimal, isNum: true} }

// value is the property as a seed holds it.
func (p demoProp) value() any {
	switch {
	case p.isBool:
		return p.b
	case p.isRef:
		return p.ref.String()
	case p.isNum:
		return json.Number(p.text)
	}
	return p.text
}

// demoObject is one object of the demo base in the making. demoEach
// reuses it for the next object once emit returns.
type demoObject struct {
	set   string
	props []demoProp
	tab   string       // the tabular section rows fills, if any
	rows  [][]demoProp // text properties only
}

func (d *demoObject) reset(set string) *demoObject {
	d.set, d.props, d.tab = set, d.props[:0], ""
	for i := range d.rows {
		d.rows[i] = d.rows[i][:0]
	}
	d.rows = d.rows[:0]
	return d
}

func (d *demoObject) add(props ...demoProp) { d.props = append(d.props, props...) }

func (d *demoObject) addRow(props ...demoProp) {
	if len(d.rows) < cap(d.rows) {
		d.rows = d.rows[:len(d.rows)+1]
		d.rows[len(d.rows)-1] = append(d.rows[len(d.rows)-1], props...)
		return
	}
	d.rows = append(d.rows, append([]demoProp(nil), props...))
}

// object is the demo object as a seed holds it: Booleans as bool, text as
// string, the rows as []any of map[string]any, as decoded from JSON.
func (d *demoObject) object() Object {
	o := make(Object, len(d.props)+1)
	for _, p := range d.props {
		o[p.name] = p.value()
	}
	if d.tab != "" {
		rows := make([]any, len(d.rows))
		for i, r := range d.rows {
			m := make(map[string]any, len(r))
			for _, p := range r {
				m[p.name] = p.value()
			}
			rows[i] = m
		}
		o[d.tab] = rows
	}
	return o
}

// demoPerson is one person (or company) of the demo base, as every
// profile has them; a demoLayout puts it into the profile's catalogs.
type demoPerson struct {
	key, ckey  guid // ckey: the УТ 11 Контрагент's
	folder     guid // the folder of clients, in profiles with one
	code, name string
	// kind is "ФизЛицо" or "ЮрЛицо"; gender and birth may be empty.
	kind, gender, birth, inn string
	client, legal            bool
	phone, local, email      string
	address                  string // "" when none
}

// addContacts adds the person's contact rows: a phone, an e-mail and
// perhaps an address.
func (p *demoPerson) addContacts(d *demoObject) {
	d.tab = "КонтактнаяИнформация"
	d.addRow(demoText("Тип", "Телефон"), demoText("Вид_Key", demoPhoneKind), demoText("Представление", p.phone),
		demoText("НомерТелефона", p.phone), demoText("НомерТелефонаБезКодов", p.local))
	d.addRow(demoText("Тип", "АдресЭлектроннойПочты"), demoText("Вид_Key", demoEmailKind),
		demoText("Представление", p.email), demoText("АдресЭП", p.email))
	if p.address != "" {
		d.addRow(demoText("Тип", "Адрес"), demoText("Представление", p.address))
	}
}

// demoKind is one card kind of the demo base.
type demoKind struct {
	i                  int
	key                guid
	name, typ, percent string
}

// demoCard is one card of the demo base.
type demoCard struct {
	i                         int
	key                       guid
	kind                      *demoKind
	owner, ownerCounterparty  guid
	barcode, magnetic, status string // barcode or magnetic may be empty
}

// description is what a card is called: its first code.
func (c *demoCard) description() string {
	if c.barcode != "" {
		return c.barcode
	}
	return c.magnetic
}

// demoLayout is where a profile keeps the demo base, object by object.
type demoLayout struct {
	sets ProfileSets
	// counterparties is the set person also fills, if any, and so a set
	// LoadDemo makes room in.
	counterparties string
	// buyerFolder: the buyers' catalog gets one folder (first in
	// insertion order), and the clients go into it; cardFolder: the
	// cards' catalog gets one folder.
	buyerFolder, cardFolder bool
	// companies: some suppliers are companies rather than persons.
	companies bool
	// itemType: items have ТипНоменклатуры.
	itemType bool
	person   func(d *demoObject, p *demoPerson, emit func(*demoObject) error) error
	kind     func(d *demoObject, k *demoKind)
	card     func(d *demoObject, c *demoCard)
}

// demoEach makes a profile's demo base object by object (see
// DemoSeedProfile) and hands each to emit, which must not keep it; an
// error from emit stops it.
func demoEach(l *demoLayout, customers, cards, kinds int, seed int64, emit func(*demoObject) error) error {
	r := rand.New(rand.NewPCG(uint64(seed), 0x1c))
	d := &demoObject{}
	var folder guid
	if l.buyerFolder {
		// Numbered after the people, whose Codes are those of УТ 11.
		folder = demoGUID(r)
		if err := emit(demoFolder(d, l.sets.Buyers, folder, customers+1, "Покупатели")); err != nil {
			return err
		}
	}
	// Owners of cards, as GUIDs: a million as strings would take a
	// hundred megabytes more while the demo is made.
	var clientKeys, counterKeys []guid
	p := &demoPerson{folder: folder}
	for i := 0; i < customers; i++ {
		p.key = demoGUID(r)
		p.client = i%8 != 7
		p.legal = !p.client && r.IntN(2) == 0 && l.companies
		li := r.IntN(len(demoMaleLast))
		if r.IntN(2) == 0 {
			p.name = demoMaleLast[li] + " " + demoMaleFirst[r.IntN(len(demoMaleFirst))] + " " + demoPatronym[r.IntN(len(demoPatronym))] + "ич"
			p.gender = "Мужской"
		} else {
			p.name = demoMaleLast[li] + "а " + demoFemaleFirst[r.IntN(len(demoFemaleFirst))] + " " + demoPatronym[r.IntN(len(demoPatronym))] + "на"
			p.gender = "Женский"
		}
		p.kind = "ФизЛицо"
		if p.legal {
			p.name, p.gender, p.kind = demoCompanies[r.IntN(len(demoCompanies))], "", "ЮрЛицо"
		}
		if r.IntN(6) == 0 {
			p.gender = "" // not filled in, as often in real bases
		}
		p.birth = EmptyDate
		if !p.legal && r.IntN(4) != 0 {
			y, m, d := 1950+r.IntN(55), 1+r.IntN(12), 1+r.IntN(28)
			b := append(pad(nil, int64(y), 4), '-')
			b = append(pad(b, int64(m), 2), '-')
			p.birth = string(append(pad(b, int64(d), 2), "T00:00:00"...))
		}
		p.phone, p.local = demoPhone(r)
		p.email = demoTranslit[li] + strconv.Itoa(i+1) + "@example.ru"
		if r.IntN(5) == 0 {
			p.email = " " + demoTranslit[li] + "." + strconv.Itoa(i+1) + "@Example.RU " // messy, as typed
		}
		p.address = ""
		if r.IntN(3) == 0 {
			house, flat := strconv.Itoa(1+r.IntN(100)), strconv.Itoa(1+r.IntN(200))
			p.address = "г. Екатеринбург, ул. Ленина, д. " + house + ", кв. " + flat
		}
		p.ckey = demoGUID(r)
		p.inn = padded("66", r.Int64N(1e10), 10)
		if p.legal {
			p.inn = p.inn[:10]
		}
		p.code = padded("00-", int64(i+1), 8)
		if err := l.person(d, p, emit); err != nil {
			return err
		}
		if p.client {
			clientKeys = append(clientKeys, p.key)
			if l.counterparties != "" {
				counterKeys = append(counterKeys, p.ckey)
			}
		}
	}
	var kindList []demoKind
	for i := 0; i < kinds; i++ {
		k := demoCardKinds[i%len(demoCardKinds)]
		name := k.name
		if i >= len(demoCardKinds) {
			name = fmt.Sprintf("%s (%d)", k.name, i+1)
		}
		kindList = append(kindList, demoKind{i: i, key: demoGUID(r), name: name, typ: k.typ, percent: k.percent})
		l.kind(d, &kindList[i])
		if err := emit(d); err != nil {
			return err
		}
	}
	if l.cardFolder && cards > 0 && len(kindList) > 0 && len(clientKeys) > 0 {
		if err := emit(demoFolder(d, l.sets.Cards, demoGUID(r), cards+1, "Дисконтные карты")); err != nil {
			return err
		}
	}
	c := &demoCard{}
	for i := 0; i < cards && len(kindList) > 0 && len(clientKeys) > 0; i++ {
		c.i = i
		c.kind = &kindList[r.IntN(len(kindList))]
		owner := r.IntN(len(clientKeys))
		c.owner = clientKeys[owner]
		if counterKeys != nil {
			c.ownerCounterparty = counterKeys[owner]
		}
		c.barcode, c.magnetic = "", ""
		if c.kind.typ != "Магнитная" {
			c.barcode = padded("2", int64(100000000+i), 12)
		}
		if c.kind.typ != "Штриховая" {
			c.magnetic = ";" + strconv.Itoa(77000000+i) + "?"
		}
		c.status = "Действует"
		if r.IntN(10) == 0 {
			c.status = "НеДействует"
		}
		c.key = demoGUID(r)
		l.card(d, c)
		if err := emit(d); err != nil {
			return err
		}
	}
	for i := 0; i < DemoItems; i++ {
		d.reset(l.sets.Items)
		d.add(demoRef("Ref_Key", demoGUID(r)), demoText("Code", DemoItemCode(i)), demoText("Description", demoGoods[i]),
			demoText("НаименованиеПолное", demoGoods[i]), demoText("Артикул", "АРТ-"+DemoItemCode(i)))
		if l.itemType {
			d.add(demoText("ТипНоменклатуры", "Товар"))
		}
		if err := emit(d); err != nil {
			return err
		}
	}
	return nil
}

// demoFolder is a folder of a hierarchical catalog, with the n-th Code.
func demoFolder(d *demoObject, set string, key guid, n int, name string) *demoObject {
	d.reset(set)
	d.add(demoRef("Ref_Key", key), demoText("Code", padded("00-", int64(n), 8)),
		demoText("Description", name), demoBool("IsFolder", true))
	return d
}

// loadDemo encodes a demo object straight into the store, checking its
// properties against the schema as buildObject would (the demo's values
// are valid by construction; TestLoadDemoStoresDemoSeed holds the two
// paths to the same result).
func (s *Server) loadDemo(d *demoObject) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.set(d.set)
	if err != nil {
		return err
	}
	t := es.typ
	var key guid
	cs := s.demoCells[:0]
	for _, p := range d.props {
		pos := t.pos(p.name)
		if pos < 0 {
			return fmt.Errorf("load demo %s: no property %s", d.set, p.name)
		}
		f := t.Fields[pos]
		if p.isBool != (f.Type == tBool) || p.isRef != (f.Type == tGuid) || p.isNum != (f.Type == tDouble) {
			return fmt.Errorf("load demo %s: %s of type %s given %+v", d.set, p.name, f.Type, p)
		}
		if err := checkLen(f, p.text); err != nil {
			return fmt.Errorf("load demo %s: %s: %w", d.set, p.name, err)
		}
		switch {
		case pos == t.refPos:
			key = p.ref
		case p.isBool:
			if p.b {
				cs = append(cs, demoCell{pos, ""})
			}
		case p.isRef:
			if p.ref != (guid{}) {
				cs = append(cs, demoCell{pos, string(p.ref[:])})
			}
		case p.isNum:
			n, err := decimal.NewFromString(p.text)
			if err != nil {
				return fmt.Errorf("load demo %s: %s: %w", d.set, p.name, err)
			}
			if text, ok := encodeValue(f.Type, n); ok {
				cs = append(cs, demoCell{pos, text})
			}
		default:
			if p.name == t.numberField() {
				s.advanceNumber(t.Name, p.text)
			}
			if text, ok := encodeText(f.Type, p.text); ok {
				cs = append(cs, demoCell{pos, text})
			}
		}
	}
	if key == (guid{}) {
		return fmt.Errorf("load demo %s: no Ref_Key", d.set)
	}
	data := encodeDemoCells(s.demoBuf[:0], cs)
	if d.tab != "" && len(d.rows) > 0 {
		ti := slices.IndexFunc(t.Tabs, func(tab tabular) bool { return tab.Name == d.tab })
		if ti < 0 {
			return fmt.Errorf("load demo %s: no tabular section %s", d.set, d.tab)
		}
		tab := &t.Tabs[ti]
		var rows, row []byte
		for _, r := range d.rows {
			cs = cs[:0]
			for _, p := range r {
				pos := slices.IndexFunc(tab.Fields, func(f field) bool { return f.Name == p.name })
				if pos < 0 || p.isBool || p.isRef || p.isNum || tab.Fields[pos].Type == tBool ||
					tab.Fields[pos].Type == tGuid && p.text != EmptyGUID && !isGUID(p.text) {
					return fmt.Errorf("load demo %s: %s.%s: not a text property of that name", d.set, d.tab, p.name)
				}
				if err := checkLen(tab.Fields[pos], p.text); err != nil {
					return fmt.Errorf("load demo %s: %s.%s: %w", d.set, d.tab, p.name, err)
				}
				if text, ok := encodeText(tab.Fields[pos].Type, p.text); ok {
					cs = append(cs, demoCell{pos, text})
				}
			}
			row = encodeDemoCells(row[:0], cs)
			rows = appendRow(rows, row)
		}
		data = appendCell(data, len(t.Fields)+ti, string(rows))
	}
	s.demoCells, s.demoBuf = cs, data
	s.store(es, key, string(data))
	return nil
}

type demoCell struct {
	pos  int
	text string
}

// encodeDemoCells appends cells in position order to b.
func encodeDemoCells(b []byte, cs []demoCell) []byte {
	slices.SortFunc(cs, func(a, b demoCell) int { return a.pos - b.pos })
	for _, c := range cs {
		b = appendCell(b, c.pos, c.text)
	}
	return b
}
