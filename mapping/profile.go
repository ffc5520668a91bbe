package mapping

import (
	"fmt"
	"maps"
)

// Profile names.
const (
	ProfileUT11    = "ut11"    // 1C:Управление торговлей 11, КА 2, ERP 2 (the default)
	ProfileRoznica = "roznica" // 1C:Розница, УТ 10.3
	ProfileUNF     = "unf"     // 1C:Управление нашей фирмой
)

// ProfileDefaults are the entity names, filters and field specs a user gets
// with no onec settings in config. Field specs are kept uncompiled
// (YAML-shaped values) so that user overrides merge key by key (Merge)
// before Compile. Each call to Profile returns a fresh copy the caller may
// modify.
type ProfileDefaults struct {
	Name      string
	Customers EntityDefaults
	Cards     EntityDefaults
	Orders    OrderDefaults
}

// EntityDefaults describe one 1C -> virtpos entity.
type EntityDefaults struct {
	Entity string         // OData entity set, e.g. Catalog_Партнеры
	Filter string         // OData $filter, "" for none
	Fields map[string]any // virtpos param -> field spec (see ParseSpec)
}

// OrderDefaults name the 1C side of the virtpos order -> 1C document
// direction; the sync engine builds the document from them.
type OrderDefaults struct {
	Entity     string // document, e.g. Document_ЗаказКлиента
	KeyField   string // where the virtpos order key is written and looked up
	Partner    string // partner reference field of the document
	Contractor string // counterparty reference field of the document
	Card       string // loyalty card reference field of the document
	Comment    string // comment field of the document
	Address    string // delivery address field of the document

	Items        string // tabular section of goods
	ItemRef      string // item reference field of a row
	Quantity     string // quantity field of a row
	Price        string // price field of a row
	Amount       string // amount field of a row
	Discount     string // manual discount field of a row
	ItemEntity   string // catalog of items
	ItemMatch    string // item field matched to virtpos item_id
	ContractorOf string // catalog of counterparties
	ContractorBy string // its field holding the partner reference
}

// Profile returns the defaults of a 1C configuration profile; "" means ut11.
// roznica and unf return an error wrapping ErrProfileNotSupported.
func Profile(name string) (*ProfileDefaults, error) {
	switch name {
	case "", ProfileUT11:
		return ut11(), nil
	case ProfileRoznica, ProfileUNF:
		return nil, fmt.Errorf("profile %s: %w: set onec.customers, onec.cards and onec.orders by hand", name, ErrProfileNotSupported)
	}
	return nil, fmt.Errorf("unknown profile %q (known: %s, %s, %s)", name, ProfileUT11, ProfileRoznica, ProfileUNF)
}

// ut11 builds the table of DESIGN.md section 8 afresh on every call, so no
// caller can change another's defaults.
func ut11() *ProfileDefaults {
	contact := func(typ string, take ...any) map[string]any {
		return map[string]any{"from": "КонтактнаяИнформация", "where": map[string]any{"Тип": typ}, "take": take}
	}
	email := contact("АдресЭлектроннойПочты", "АдресЭП", "Представление")
	email["as"] = AsEmail
	phone := contact("Телефон", "НомерТелефона", "Представление")
	phone["as"] = AsPhone
	return &ProfileDefaults{
		Name: ProfileUT11,
		Customers: EntityDefaults{
			Entity: "Catalog_Партнеры",
			Filter: "Клиент eq true",
			Fields: map[string]any{
				"external_id": "Ref_Key",
				"lname":       map[string]any{"from": "Description", "as": AsNamePart, "part": 1},
				"fname":       map[string]any{"from": "Description", "as": AsNamePart, "part": 2},
				"mname":       map[string]any{"from": "Description", "as": AsNamePart, "part": 3},
				"email":       email,
				"phone":       phone,
				"gender":      map[string]any{"from": "Пол", "map": map[string]any{"Мужской": "M", "Женский": "F"}},
				"birth_day":   map[string]any{"from": "ДатаРождения", "as": AsDay},
				"birth_month": map[string]any{"from": "ДатаРождения", "as": AsMonth},
				"birth_year":  map[string]any{"from": "ДатаРождения", "as": AsYear},
			},
		},
		Cards: EntityDefaults{
			Entity: "Catalog_КартыЛояльности",
			Fields: map[string]any{
				"external_id": "Ref_Key",
				"uid":         map[string]any{"from": []any{"Штрихкод", "МагнитныйКод"}},
				"status":      map[string]any{"from": "Статус", "map": map[string]any{"Действует": "ACTIVE", "НеДействует": "BLOCKED"}},
				"medium": map[string]any{"from": "Owner_Key", "entity": "Catalog_ВидыКартЛояльности", "lookup": "ТипКарты",
					"map": map[string]any{"Штриховая": "PLASTIC", "Магнитная": "MAGNET", "Смешанная": "MAGNET"}},
				"type_name":   map[string]any{"from": "Owner_Key", "entity": "Catalog_ВидыКартЛояльности", "lookup": "Description"},
				"customer_id": map[string]any{"from": "Партнер_Key", "as": AsRef, "kind": KindCustomer, "fallback": "customer_external_id"},
			},
		},
		Orders: OrderDefaults{
			Entity:       "Document_ЗаказКлиента",
			KeyField:     "НомерПоДаннымКлиента",
			Partner:      "Партнер_Key",
			Contractor:   "Контрагент_Key",
			Card:         "КартаЛояльности_Key",
			Comment:      "Комментарий",
			Address:      "АдресДоставки",
			Items:        "Товары",
			ItemRef:      "Номенклатура_Key",
			Quantity:     "Количество",
			Price:        "Цена",
			Amount:       "Сумма",
			Discount:     "СуммаРучнойСкидки",
			ItemEntity:   "Catalog_Номенклатура",
			ItemMatch:    "Code",
			ContractorOf: "Catalog_Контрагенты",
			ContractorBy: "Партнер_Key",
		},
	}
}

// Merge returns base with overrides applied key by key, as a new map: an
// override replaces the whole spec of its parameter, and an override of nil
// (YAML `~` or empty) removes the parameter, so a user can stop sending a
// default field. Neither input is modified.
func Merge(base, overrides map[string]any) map[string]any {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range overrides {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}
