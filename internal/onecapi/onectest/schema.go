// Package onectest is a fake 1C:Enterprise OData server ("standard.odata"
// publication) for tests and local demos. It serves the published objects
// of one 1C configuration (Options.Profile: УТ 11, УНФ 3.0 or Розница 2) in
// 1C's own JSON shapes, with a small real $filter parser, paging, writes,
// faults and request counters.
//
// What the fake decides where 1C leaves room:
//   - Requests without $format=json (except $metadata and /$count) get
//     HTTP 406 with an XML OData error (code 14): the fake does not render Atom.
//   - $expand is not supported: it is answered with 400, code 14.
//   - substringof is case-insensitive, as 1C's ПОДОБНО is on common DBMSs.
//   - With no $orderby, entities come back in insertion order (never GUID
//     order), so clients cannot rely on an accidental key order.
//   - Ordering by a reference (X_Key, Ref_Key) sorts by the referenced
//     object's presentation (Description; Number for documents), like 1C.
package onectest

import "strings"

// PublicationPath is where the fake publishes the standard OData interface.
const PublicationPath = "/odata/standard.odata/"

// EmptyGUID is 1C's empty reference.
const EmptyGUID = "00000000-0000-0000-0000-000000000000"

// EmptyDate is 1C's "no date".
const EmptyDate = "0001-01-01T00:00:00"

// dateLayout is how 1C writes Edm.DateTime in JSON: no offset, seconds.
const dateLayout = "2006-01-02T15:04:05"

type edmType string

const (
	tGuid   edmType = "Edm.Guid"
	tString edmType = "Edm.String"
	tBool   edmType = "Edm.Boolean"
	tDouble edmType = "Edm.Double"
	tDate   edmType = "Edm.DateTime"
	tInt64  edmType = "Edm.Int64"
)

// field is one property of an entity type or a tabular row.
type field struct {
	Name string
	Type edmType
	// RefTo names the entity set an X_Key field points to, when the fake
	// serves it; ordering by the field then uses that object's presentation.
	RefTo string
	// MaxLen is the longest Edm.String value, in characters, a write may
	// give (1C refuses a longer one); 0: unlimited.
	MaxLen int
	// pos is the field's position in the list a fieldLookup searched
	// (an entity type's Fields, or a tabular row's rowFields), so that a
	// filter reads a stored record by position. Not part of the schema.
	pos int
}

// tabular is a tabular section (inline array of rows).
type tabular struct {
	Name   string
	Fields []field // without Ref_Key and LineNumber, added on output
}

// entityType describes one published entity set.
type entityType struct {
	Name     string
	Document bool
	HasCode  bool
	Fields   []field
	Tabs     []tabular
	// Title is how 1C names a document in its messages ("Заказ клиента").
	Title string
	// cardCodes are the properties holding a card's barcode or magnetic
	// code: the churn fault gives a copied card new ones, as two cards
	// never share a code.
	cardCodes []string
	// refPos and verPos are the positions of Ref_Key and DataVersion in
	// Fields, positions every field's; set by index.
	refPos, verPos int
	positions      map[string]int
}

// index fills the positions of the fields; every type has Ref_Key and
// DataVersion.
func (e *entityType) index() {
	e.positions = make(map[string]int, len(e.Fields))
	for i, f := range e.Fields {
		e.positions[f.Name] = i
	}
	e.refPos, e.verPos = e.positions["Ref_Key"], e.positions["DataVersion"]
}

// numberField is the property 1C numbers: a document's Number, a coded
// catalog's Code; "" for others.
func (e *entityType) numberField() string {
	switch {
	case e.Document:
		return "Number"
	case e.HasCode:
		return "Code"
	}
	return ""
}

// pos is the position of a field in Fields, -1 when there is none.
func (e *entityType) pos(name string) int {
	if p, ok := e.positions[name]; ok {
		return p
	}
	return -1
}

func (e *entityType) field(name string) (field, bool) {
	for _, f := range e.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return field{}, false
}

func (e *entityType) tab(name string) (*tabular, bool) {
	for i := range e.Tabs {
		if e.Tabs[i].Name == name {
			return &e.Tabs[i], true
		}
	}
	return nil, false
}

func (t *tabular) field(name string) (field, bool) {
	switch name {
	case "Ref_Key":
		return field{Name: name, Type: tGuid}, true
	case "LineNumber":
		return field{Name: name, Type: tInt64}, true
	}
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return field{}, false
}

// rowFields is a tabular row's full property list as 1C publishes it.
func rowFields(t *tabular) []field {
	return append([]field{{Name: "Ref_Key", Type: tGuid}, {Name: "LineNumber", Type: tInt64}}, t.Fields...)
}

func isKeyField(name string) bool {
	return name == "Ref_Key" || strings.HasSuffix(name, "_Key")
}

// Entity set names of the default (УТ 11) profile.
const (
	SetPartners   = "Catalog_Партнеры"
	SetCounterpty = "Catalog_Контрагенты"
	SetCards      = "Catalog_КартыЛояльности"
	SetCardKinds  = "Catalog_ВидыКартЛояльности"
	SetItems      = "Catalog_Номенклатура"
	SetOrders     = "Document_ЗаказКлиента"
)

func catalogHead(code bool) []field {
	fs := []field{
		{Name: "Ref_Key", Type: tGuid},
		{Name: "Predefined", Type: tBool},
		{Name: "PredefinedDataName", Type: tString},
		{Name: "DataVersion", Type: tString},
		{Name: "Description", Type: tString},
	}
	if code {
		fs = append(fs, field{Name: "Code", Type: tString})
	}
	return append(fs, field{Name: "DeletionMark", Type: tBool})
}

// contactFields follow the real capture's Catalog_Контрагенты_КонтактнаяИнформация.
var contactFields = []field{
	{Name: "Тип", Type: tString},
	{Name: "Вид_Key", Type: tGuid},
	{Name: "Представление", Type: tString},
	{Name: "ЗначенияПолей", Type: tString},
	{Name: "Страна", Type: tString},
	{Name: "Регион", Type: tString},
	{Name: "Город", Type: tString},
	{Name: "АдресЭП", Type: tString},
	{Name: "ДоменноеИмяСервера", Type: tString},
	{Name: "НомерТелефона", Type: tString},
	{Name: "НомерТелефонаБезКодов", Type: tString},
	{Name: "ВидДляСписка_Key", Type: tGuid},
	{Name: "ДействуетС", Type: tDate},
	{Name: "Значение", Type: tString},
}

// ut11Schema is the published part of УТ 11 the fake serves. Names and
// order follow the real 8.5 $metadata capture where it has the object.
func ut11Schema() []*entityType {
	types := []*entityType{
		{
			Name: SetPartners, HasCode: true,
			Fields: append(catalogHead(true),
				field{Name: "НаименованиеПолное", Type: tString},
				field{Name: "Клиент", Type: tBool},
				field{Name: "Поставщик", Type: tBool},
				field{Name: "ЮрФизЛицо", Type: tString},
				field{Name: "Пол", Type: tString},
				field{Name: "ДатаРождения", Type: tDate},
				field{Name: "ОсновнойМенеджер_Key", Type: tGuid},
				field{Name: "Комментарий", Type: tString},
			),
			Tabs: []tabular{{Name: "КонтактнаяИнформация", Fields: contactFields}},
		},
		{
			Name: SetCounterpty,
			Fields: append(catalogHead(false),
				field{Name: "НаименованиеПолное", Type: tString},
				field{Name: "ЮридическоеФизическоеЛицо", Type: tString},
				field{Name: "ИНН", Type: tString},
				field{Name: "КПП", Type: tString},
				field{Name: "Партнер_Key", Type: tGuid, RefTo: SetPartners},
				field{Name: "ЮрФизЛицо", Type: tString},
			),
			Tabs: []tabular{{Name: "КонтактнаяИнформация", Fields: contactFields}},
		},
		{
			Name: SetCardKinds,
			Fields: append(catalogHead(false),
				field{Name: "ТипКарты", Type: tString},
				field{Name: "ДатаНачалаДействия", Type: tDate},
				field{Name: "ДатаОкончанияДействия", Type: tDate},
				field{Name: "Персонализированная", Type: tBool},
			),
		},
		{
			Name: SetCards, cardCodes: []string{"Штрихкод", "МагнитныйКод"},
			Fields: append(catalogHead(false),
				field{Name: "Owner_Key", Type: tGuid, RefTo: SetCardKinds},
				field{Name: "Штрихкод", Type: tString},
				field{Name: "МагнитныйКод", Type: tString},
				field{Name: "Статус", Type: tString},
				field{Name: "Партнер_Key", Type: tGuid, RefTo: SetPartners},
				field{Name: "Контрагент_Key", Type: tGuid, RefTo: SetCounterpty},
			),
		},
		{
			Name: SetItems, HasCode: true,
			Fields: append(catalogHead(true),
				field{Name: "Parent_Key", Type: tGuid, RefTo: SetItems},
				field{Name: "IsFolder", Type: tBool},
				field{Name: "ЕдиницаИзмерения_Key", Type: tGuid},
				field{Name: "Артикул", Type: tString},
				field{Name: "НаименованиеПолное", Type: tString},
				field{Name: "ТипНоменклатуры", Type: tString},
			),
		},
		{
			Name: SetOrders, Document: true, Title: "Заказ клиента",
			Fields: []field{
				{Name: "Ref_Key", Type: tGuid},
				{Name: "DataVersion", Type: tString},
				{Name: "Number", Type: tString},
				{Name: "Date", Type: tDate},
				{Name: "DeletionMark", Type: tBool},
				{Name: "Posted", Type: tBool},
				{Name: "Партнер_Key", Type: tGuid, RefTo: SetPartners},
				{Name: "Контрагент_Key", Type: tGuid, RefTo: SetCounterpty},
				{Name: "Организация_Key", Type: tGuid},
				{Name: "Соглашение_Key", Type: tGuid},
				{Name: "Валюта_Key", Type: tGuid},
				{Name: "СуммаДокумента", Type: tDouble},
				{Name: "Склад_Key", Type: tGuid},
				{Name: "ЦенаВключаетНДС", Type: tBool},
				{Name: "Статус", Type: tString},
				{Name: "АдресДоставки", Type: tString},
				{Name: "ХозяйственнаяОперация", Type: tString},
				{Name: "Комментарий", Type: tString},
				{Name: "НомерПоДаннымКлиента", Type: tString},
				{Name: "КартаЛояльности_Key", Type: tGuid, RefTo: SetCards},
			},
			Tabs: []tabular{{Name: "Товары", Fields: []field{
				{Name: "Номенклатура_Key", Type: tGuid, RefTo: SetItems},
				{Name: "КоличествоУпаковок", Type: tDouble},
				{Name: "Количество", Type: tDouble},
				{Name: "Цена", Type: tDouble},
				{Name: "Сумма", Type: tDouble},
				{Name: "СуммаНДС", Type: tDouble},
				{Name: "СуммаСНДС", Type: tDouble},
				{Name: "СуммаРучнойСкидки", Type: tDouble},
				{Name: "СуммаАвтоматическойСкидки", Type: tDouble},
				{Name: "Склад_Key", Type: tGuid},
			}}},
		},
	}
	for _, t := range types {
		t.index()
	}
	return types
}
