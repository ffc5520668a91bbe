package onectest

// The demo layouts of the profiles: where each keeps the demo's people,
// card kinds and cards (items are alike everywhere, see demoEach).

var ut11Demo = &demoLayout{
	sets:           ProfileSets{Buyers: SetPartners, CardKinds: SetCardKinds, Cards: SetCards, Items: SetItems},
	counterparties: SetCounterpty,
	companies:      true,
	itemType:       true,
	person: func(d *demoObject, p *demoPerson, emit func(*demoObject) error) error {
		d.reset(SetPartners)
		d.add(demoRef("Ref_Key", p.key), demoText("Code", p.code),
			demoText("Description", p.name), demoText("НаименованиеПолное", p.name),
			demoBool("Клиент", p.client), demoBool("Поставщик", !p.client), demoText("ЮрФизЛицо", p.kind),
			demoText("Пол", p.gender), demoText("ДатаРождения", p.birth))
		p.addContacts(d)
		if err := emit(d); err != nil {
			return err
		}
		d.reset(SetCounterpty)
		d.add(demoRef("Ref_Key", p.ckey), demoText("Description", p.name), demoText("НаименованиеПолное", p.name),
			demoText("ИНН", p.inn), demoRef("Партнер_Key", p.key), demoText("ЮрФизЛицо", p.kind),
			demoText("ЮридическоеФизическоеЛицо", p.kind))
		return emit(d)
	},
	kind: func(d *demoObject, k *demoKind) {
		end := EmptyDate
		if k.i%2 == 1 {
			end = "2030-12-31T00:00:00"
		}
		d.reset(SetCardKinds)
		d.add(demoRef("Ref_Key", k.key), demoText("Description", k.name), demoText("ТипКарты", k.typ),
			demoText("ДатаНачалаДействия", "2020-01-01T00:00:00"), demoText("ДатаОкончанияДействия", end),
			demoBool("Персонализированная", true))
	},
	card: func(d *demoObject, c *demoCard) {
		d.reset(SetCards)
		d.add(demoRef("Ref_Key", c.key), demoText("Description", c.description()), demoRef("Owner_Key", c.kind.key),
			demoText("Штрихкод", c.barcode), demoText("МагнитныйКод", c.magnetic), demoText("Статус", c.status),
			demoRef("Партнер_Key", c.owner), demoRef("Контрагент_Key", c.ownerCounterparty))
	},
}

var unfDemo = &demoLayout{
	sets:        ProfileSets{Buyers: SetUNFBuyers, CardKinds: SetUNFCardKinds, Cards: SetUNFCards, Items: SetUNFItems},
	buyerFolder: true,
	companies:   true,
	itemType:    true,
	person: func(d *demoObject, p *demoPerson, emit func(*demoObject) error) error {
		kind := "ФизическоеЛицо"
		if p.legal {
			kind = "ЮридическоеЛицо"
		}
		d.reset(SetUNFBuyers)
		d.add(demoRef("Ref_Key", p.key), demoText("Code", p.code),
			demoText("Description", p.name), demoText("НаименованиеПолное", p.name),
			demoBool("Покупатель", p.client), demoBool("Поставщик", !p.client), demoText("ВидКонтрагента", kind),
			demoText("Пол", p.gender), demoText("ДатаРождения", p.birth), demoText("ИНН", p.inn))
		if p.client {
			d.add(demoRef("Parent_Key", p.folder))
		}
		p.addContacts(d)
		return emit(d)
	},
	kind: func(d *demoObject, k *demoKind) {
		d.reset(SetUNFCardKinds)
		d.add(demoRef("Ref_Key", k.key), demoText("Description", k.name), demoText("ТипКарты", k.typ),
			demoBool("ЭтоИменнаяКарта", true), demoNum("Скидка", k.percent))
	},
	card: func(d *demoObject, c *demoCard) {
		d.reset(SetUNFCards)
		d.add(demoRef("Ref_Key", c.key), demoText("Code", padded("00-", int64(c.i+1), 8)),
			demoText("Description", c.description()), demoRef("Owner_Key", c.kind.key),
			demoText("КодКартыШтрихкод", c.barcode), demoText("КодКартыМагнитный", c.magnetic),
			demoRef("ВладелецКарты_Key", c.owner))
	},
}

var roznicaDemo = &demoLayout{
	sets:        ProfileSets{Buyers: SetRoznicaPersons, CardKinds: SetRoznicaCardKinds, Cards: SetRoznicaCards, Items: SetRoznicaItems},
	buyerFolder: true,
	cardFolder:  true,
	person: func(d *demoObject, p *demoPerson, emit func(*demoObject) error) error {
		d.reset(SetRoznicaPersons)
		d.add(demoRef("Ref_Key", p.key), demoText("Code", p.code), demoText("Description", p.name),
			demoText("Пол", p.gender), demoText("ДатаРождения", p.birth), demoText("ИНН", p.inn),
			demoBool("Сотрудник", !p.client))
		if p.client {
			d.add(demoRef("Parent_Key", p.folder))
		}
		p.addContacts(d)
		return emit(d)
	},
	kind: func(d *demoObject, k *demoKind) {
		d.reset(SetRoznicaCardKinds)
		d.add(demoRef("Ref_Key", k.key), demoText("Code", padded("00-", int64(k.i+1), 8)), demoText("Description", k.name))
	},
	card: func(d *demoObject, c *demoCard) {
		// Opened on a day of 2023 that follows from the card's number.
		b := append(pad([]byte("2023-"), int64(1+c.i%12), 2), '-')
		opened := string(append(pad(b, int64(1+c.i%28), 2), "T00:00:00"...))
		d.reset(SetRoznicaCards)
		d.add(demoRef("Ref_Key", c.key), demoText("Code", padded("00-", int64(c.i+1), 8)),
			demoText("Description", c.description()), demoText("КодКарты", c.description()),
			demoText("ВладелецКарты", c.owner.String()), demoText("ВладелецКарты_Type", TypeOf(SetRoznicaPersons)),
			demoRef("ВидДисконтнойКарты_Key", c.kind.key), demoText("ВидКарты", c.kind.typ),
			demoText("ТипКарты", "Дисконтная"), demoText("ДатаОткрытия", opened))
	},
}
