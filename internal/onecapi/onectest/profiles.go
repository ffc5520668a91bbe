package onectest

import (
	"fmt"
	"strings"
)

// Profiles of 1C configurations the fake serves (Options.Profile; "" is
// ProfileUT11).
const (
	ProfileUT11    = "ut11"    // 1C:Управление торговлей 11
	ProfileUNF     = "unf"     // 1C:Управление нашей фирмой 3.0
	ProfileRoznica = "roznica" // 1C:Розница 2
)

// Entity sets of the УНФ profile. Buyers and suppliers share one catalog;
// a buyer has Покупатель = true.
const (
	SetUNFBuyers    = "Catalog_Контрагенты"
	SetUNFCardKinds = "Catalog_ВидыДисконтныхКарт"
	SetUNFCards     = "Catalog_ДисконтныеКарты"
	SetUNFItems     = "Catalog_Номенклатура"
	SetUNFOrders    = "Document_ЗаказПокупателя"
	// TabUNFOrderGoods is the goods section of an УНФ order (not Товары).
	TabUNFOrderGoods = "Запасы"
)

// Entity sets of the Розница profile. Buyers are private persons; staff
// are persons too, with Сотрудник = true.
const (
	SetRoznicaPersons        = "Catalog_ФизическиеЛица"
	SetRoznicaCounterparties = "Catalog_Контрагенты"
	SetRoznicaCardKinds      = "Catalog_ВидыДисконтныхКарт"
	SetRoznicaCards          = "Catalog_ИнформационныеКарты"
	SetRoznicaItems          = "Catalog_Номенклатура"
	SetRoznicaOrders         = "Document_ЗаказПокупателя"
	TabRoznicaOrderGoods     = "Товары"
)

// TypeOf is the _Type value 1C gives a composite reference to an object of
// an entity set ("StandardODATA.Catalog_ФизическиеЛица").
func TypeOf(set string) string { return "StandardODATA." + set }

// ProfileSets names the entity sets of a profile by their role.
type ProfileSets struct {
	// Buyers is the catalog the demo's people are in: Партнеры (УТ 11),
	// Контрагенты (УНФ), ФизическиеЛица (Розница).
	Buyers    string
	CardKinds string
	Cards     string
	Items     string
	Orders    string
	// OrderGoods is the tabular section of an order's goods.
	OrderGoods string
}

// profile is one configuration the fake can serve.
type profile struct {
	sets   ProfileSets
	schema func() []*entityType
	demo   *demoLayout
}

var profiles = map[string]*profile{
	ProfileUT11: {
		sets:   ProfileSets{SetPartners, SetCardKinds, SetCards, SetItems, SetOrders, "Товары"},
		schema: ut11Schema, demo: ut11Demo,
	},
	ProfileUNF: {
		sets:   ProfileSets{SetUNFBuyers, SetUNFCardKinds, SetUNFCards, SetUNFItems, SetUNFOrders, TabUNFOrderGoods},
		schema: unfSchema, demo: unfDemo,
	},
	ProfileRoznica: {
		sets:   ProfileSets{SetRoznicaPersons, SetRoznicaCardKinds, SetRoznicaCards, SetRoznicaItems, SetRoznicaOrders, TabRoznicaOrderGoods},
		schema: roznicaSchema, demo: roznicaDemo,
	},
}

// Profiles lists the profile names the fake knows.
func Profiles() []string { return []string{ProfileUT11, ProfileUNF, ProfileRoznica} }

// ValidateProfile tells whether the fake knows a profile name ("" is
// ProfileUT11); the error lists the known ones.
func ValidateProfile(name string) error {
	_, err := lookupProfile(name)
	return err
}

func lookupProfile(name string) (*profile, error) {
	if name == "" {
		name = ProfileUT11
	}
	p, ok := profiles[name]
	if !ok {
		return nil, fmt.Errorf("unknown 1C profile %q (known: %s)", name, strings.Join(Profiles(), ", "))
	}
	return p, nil
}

// SetsOf returns the entity sets of a profile by role.
func SetsOf(name string) (ProfileSets, error) {
	p, err := lookupProfile(name)
	if err != nil {
		return ProfileSets{}, err
	}
	return p.sets, nil
}

// The schemas below are written from public research on the two
// configurations (field names from their metadata dumps and from OData
// clients of them), not from the project's profile files, so that a test
// of a profile file against the fake checks one against the other.

// hierarchyHead is the head of a hierarchical catalog: groups of items.
func hierarchyHead(code bool, set string) []field {
	return append(catalogHead(code),
		field{Name: "Parent_Key", Type: tGuid, RefTo: set},
		field{Name: "IsFolder", Type: tBool})
}

func documentHead() []field {
	return []field{
		{Name: "Ref_Key", Type: tGuid},
		{Name: "DataVersion", Type: tString},
		{Name: "Number", Type: tString, MaxLen: 11},
		{Name: "Date", Type: tDate},
		{Name: "DeletionMark", Type: tBool},
		{Name: "Posted", Type: tBool},
	}
}

// composite is a reference of more than one type as 1C publishes it: the
// GUID in X and the type in X_Type, both strings; there is no X_Key.
func composite(name string) []field {
	return []field{{Name: name, Type: tString}, {Name: name + "_Type", Type: tString}}
}

// limit sets the MaxLen of the named fields of fs (a fresh slice).
func limit(fs []field, lens map[string]int) []field {
	for i := range fs {
		if n, ok := lens[fs[i].Name]; ok {
			fs[i].MaxLen = n
		}
	}
	return fs
}

func indexed(types []*entityType) []*entityType {
	for _, t := range types {
		t.index()
	}
	return types
}

// unfSchema is the published part of УНФ 3.0 the fake serves.
func unfSchema() []*entityType {
	var goods []field
	goods = append(goods, composite("Номенклатура")...) // composite since 3.0.8: an item or a text
	goods = append(goods,
		field{Name: "Характеристика_Key", Type: tGuid},
		field{Name: "Количество", Type: tDouble},
		field{Name: "Цена", Type: tDouble},
		field{Name: "Сумма", Type: tDouble},
		field{Name: "Всего", Type: tDouble},
		field{Name: "ПроцентСкидкиНаценки", Type: tDouble},
		field{Name: "СуммаСкидкиНаценки", Type: tDouble},
		field{Name: "СуммаНДС", Type: tDouble},
		field{Name: "СтавкаНДС_Key", Type: tGuid},
	)
	goods = append(goods, composite("ЕдиницаИзмерения")...)

	order := append(documentHead(),
		field{Name: "Контрагент_Key", Type: tGuid, RefTo: SetUNFBuyers},
		field{Name: "Договор_Key", Type: tGuid},
		field{Name: "Организация_Key", Type: tGuid},
		field{Name: "СтруктурнаяЕдиницаРезерв_Key", Type: tGuid},
		field{Name: "СтруктурнаяЕдиницаПродажи_Key", Type: tGuid},
		field{Name: "ВалютаДокумента_Key", Type: tGuid},
		field{Name: "СуммаДокумента", Type: tDouble},
		field{Name: "СуммаВключаетНДС", Type: tBool},
		field{Name: "Комментарий", Type: tString},
		field{Name: "ВидОперации", Type: tString},
		field{Name: "НомерВходящегоДокумента", Type: tString, MaxLen: 30},
		field{Name: "ДатаВходящегоДокумента", Type: tDate},
		field{Name: "ДисконтнаяКарта_Key", Type: tGuid, RefTo: SetUNFCards},
		field{Name: "АдресДоставки", Type: tString, MaxLen: 500},
	)
	order = append(order, composite("СостояниеЗаказа")...)

	return indexed([]*entityType{
		{
			Name: SetUNFBuyers, HasCode: true,
			Fields: append(limit(hierarchyHead(true, SetUNFBuyers), map[string]int{"Description": 100}),
				field{Name: "НаименованиеПолное", Type: tString},
				field{Name: "Покупатель", Type: tBool},
				field{Name: "Поставщик", Type: tBool},
				field{Name: "ВидКонтрагента", Type: tString},
				field{Name: "Пол", Type: tString},
				field{Name: "ДатаРождения", Type: tDate},
				field{Name: "ИНН", Type: tString, MaxLen: 12},
				field{Name: "Комментарий", Type: tString},
			),
			Tabs: []tabular{{Name: "КонтактнаяИнформация", Fields: contactFields}},
		},
		{
			Name: SetUNFCardKinds,
			Fields: append(limit(catalogHead(false), map[string]int{"Description": 100}),
				field{Name: "ТипКарты", Type: tString},
				field{Name: "ЭтоИменнаяКарта", Type: tBool},
				field{Name: "Скидка", Type: tDouble},
			),
		},
		{
			// Code is 9 characters in 1C; the fake numbers it its own
			// way ("00-00000001"), so it sets no limit there.
			Name: SetUNFCards, HasCode: true, cardCodes: []string{"КодКартыШтрихкод", "КодКартыМагнитный"},
			Fields: append(limit(catalogHead(true), map[string]int{"Description": 150}),
				field{Name: "Owner_Key", Type: tGuid, RefTo: SetUNFCardKinds},
				field{Name: "КодКартыШтрихкод", Type: tString, MaxLen: 100},
				field{Name: "КодКартыМагнитный", Type: tString, MaxLen: 100},
				field{Name: "ВладелецКарты_Key", Type: tGuid, RefTo: SetUNFBuyers},
				field{Name: "Комментарий", Type: tString},
			),
		},
		{
			Name: SetUNFItems, HasCode: true,
			Fields: append(hierarchyHead(true, SetUNFItems),
				field{Name: "Артикул", Type: tString},
				field{Name: "НаименованиеПолное", Type: tString},
				field{Name: "ТипНоменклатуры", Type: tString},
			),
		},
		{
			Name: SetUNFOrders, Document: true, Title: "Заказ покупателя",
			Fields: order,
			Tabs:   []tabular{{Name: TabUNFOrderGoods, Fields: goods}},
		},
	})
}

// roznicaSchema is the published part of Розница 2 the fake serves.
func roznicaSchema() []*entityType {
	cards := append(limit(hierarchyHead(true, SetRoznicaCards), map[string]int{"Description": 50}),
		field{Name: "КодКарты", Type: tString, MaxLen: 200}, // barcode or magnetic, as ВидКарты says
	)
	cards = append(cards, composite("ВладелецКарты")...)
	cards = append(cards,
		field{Name: "ВидДисконтнойКарты_Key", Type: tGuid, RefTo: SetRoznicaCardKinds},
		field{Name: "ВидКарты", Type: tString},
		field{Name: "ТипКарты", Type: tString},
		field{Name: "ДатаОткрытия", Type: tDate},
	)

	order := append(documentHead(),
		field{Name: "Организация_Key", Type: tGuid},
		field{Name: "Магазин_Key", Type: tGuid},
		field{Name: "Склад_Key", Type: tGuid},
		field{Name: "Контрагент_Key", Type: tGuid, RefTo: SetRoznicaCounterparties},
		field{Name: "ДисконтнаяКарта_Key", Type: tGuid, RefTo: SetRoznicaCards},
	)
	order = append(order, composite("ВладелецДисконтнойКарты")...)
	order = append(order,
		field{Name: "СуммаДокумента", Type: tDouble},
		field{Name: "ЦенаВключаетНДС", Type: tBool},
		field{Name: "Комментарий", Type: tString},
		field{Name: "Статус", Type: tString},
		field{Name: "АдресДоставки", Type: tString},
		field{Name: "НомерЗаказаНаСайте", Type: tString, MaxLen: 11},
		field{Name: "ДатаЗаказаНаСайте", Type: tDate},
	)

	return indexed([]*entityType{
		{
			Name: SetRoznicaPersons, HasCode: true,
			Fields: append(limit(hierarchyHead(true, SetRoznicaPersons), map[string]int{"Description": 50}),
				field{Name: "Пол", Type: tString},
				field{Name: "ДатаРождения", Type: tDate},
				field{Name: "ИНН", Type: tString},
				field{Name: "Комментарий", Type: tString},
				field{Name: "Сотрудник", Type: tBool},
			),
			Tabs: []tabular{{Name: "КонтактнаяИнформация", Fields: contactFields}},
		},
		{
			Name: SetRoznicaCounterparties, HasCode: true,
			Fields: append(limit(catalogHead(true), map[string]int{"Description": 100}),
				field{Name: "НаименованиеПолное", Type: tString, MaxLen: 250},
				field{Name: "ЮрФизЛицо", Type: tString},
				field{Name: "ИНН", Type: tString},
				field{Name: "КПП", Type: tString},
			),
		},
		{
			Name: SetRoznicaCardKinds, HasCode: true,
			Fields: catalogHead(true),
		},
		{
			// Code is 9 characters in 1C; see SetUNFCards.
			Name: SetRoznicaCards, HasCode: true, cardCodes: []string{"КодКарты"},
			Fields: cards,
		},
		{
			Name: SetRoznicaItems, HasCode: true,
			Fields: append(limit(hierarchyHead(true, SetRoznicaItems), map[string]int{"Code": 11}),
				field{Name: "Артикул", Type: tString, MaxLen: 25},
				field{Name: "НаименованиеПолное", Type: tString},
			),
		},
		{
			Name: SetRoznicaOrders, Document: true, Title: "Заказ покупателя",
			Fields: order,
			Tabs: []tabular{{Name: TabRoznicaOrderGoods, Fields: []field{
				{Name: "Номенклатура_Key", Type: tGuid, RefTo: SetRoznicaItems},
				{Name: "Характеристика_Key", Type: tGuid},
				{Name: "Упаковка_Key", Type: tGuid},
				{Name: "КоличествоУпаковок", Type: tDouble},
				{Name: "Количество", Type: tDouble},
				{Name: "Цена", Type: tDouble},
				{Name: "Сумма", Type: tDouble},
				{Name: "СтавкаНДС", Type: tString}, // an enum in Розница, not a reference
				{Name: "СуммаНДС", Type: tDouble},
				{Name: "ПроцентРучнойСкидки", Type: tDouble},
				{Name: "СуммаРучнойСкидки", Type: tDouble},
			}}},
		},
	})
}
