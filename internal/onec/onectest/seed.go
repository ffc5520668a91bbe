package onectest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
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
			if _, err := s.Put(n, o); err != nil {
				return fmt.Errorf("load seed %s[%d]: %w", n, i, err)
			}
		}
	}
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
	demoCardKinds   = []struct{ name, typ string }{{"Дисконтная 5%", "Штриховая"}, {"Бонусная магнитная", "Магнитная"}, {"Золотая", "Смешанная"}}
	demoPhoneKind   = "a1b2c3d4-0000-4000-8000-000000000001"
	demoEmailKind   = "a1b2c3d4-0000-4000-8000-000000000002"
)

func demoGUID(r *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// demoPhone renders one number in one of the formats people type into 1C.
func demoPhone(r *rand.Rand) (pres, local string) {
	code := 900 + r.IntN(100)
	a, b, c := 100+r.IntN(900), 10+r.IntN(90), 10+r.IntN(90)
	local = fmt.Sprintf("%d%02d%02d", a, b, c)
	switch r.IntN(4) {
	case 0:
		pres = fmt.Sprintf("8 (%d) %d-%02d-%02d", code, a, b, c)
	case 1:
		pres = fmt.Sprintf("+7 %d %d %02d%02d", code, a, b, c)
	case 2:
		pres = fmt.Sprintf("+7(%d)%d%02d%02d", code, a, b, c)
	default:
		pres = fmt.Sprintf("8%d%d%02d%02d", code, a, b, c)
	}
	return pres, local
}

// DemoSeed builds a realistic, deterministic УТ 11 base: customers
// partners (about every 8th is a supplier with Клиент=false, some are
// companies), one Контрагент each, kinds card kinds cycling through
// Штриховая/Магнитная/Смешанная, cards owned by client partners, and
// DemoItems Номенклатура items whose Code is DemoItemCode(i).
func DemoSeed(customers, cards, kinds int, seed int64) Seed {
	r := rand.New(rand.NewPCG(uint64(seed), 0x1c))
	out := Seed{}
	var clientKeys, counterKeys []string
	for i := 0; i < customers; i++ {
		key := demoGUID(r)
		client := i%8 != 7
		legal := !client && r.IntN(2) == 0
		var name, gender string
		li := r.IntN(len(demoMaleLast))
		if r.IntN(2) == 0 {
			name = fmt.Sprintf("%s %s %sич", demoMaleLast[li], demoMaleFirst[r.IntN(len(demoMaleFirst))], demoPatronym[r.IntN(len(demoPatronym))])
			gender = "Мужской"
		} else {
			name = fmt.Sprintf("%sа %s %sна", demoMaleLast[li], demoFemaleFirst[r.IntN(len(demoFemaleFirst))], demoPatronym[r.IntN(len(demoPatronym))])
			gender = "Женский"
		}
		kind := "ФизЛицо"
		if legal {
			name, gender, kind = demoCompanies[r.IntN(len(demoCompanies))], "", "ЮрЛицо"
		}
		if r.IntN(6) == 0 {
			gender = "" // not filled in, as often in real bases
		}
		birth := EmptyDate
		if !legal && r.IntN(4) != 0 {
			birth = fmt.Sprintf("%04d-%02d-%02dT00:00:00", 1950+r.IntN(55), 1+r.IntN(12), 1+r.IntN(28))
		}
		phone, local := demoPhone(r)
		email := fmt.Sprintf("%s%d@example.ru", demoTranslit[li], i+1)
		if r.IntN(5) == 0 {
			email = fmt.Sprintf(" %s.%d@Example.RU ", demoTranslit[li], i+1) // messy, as typed
		}
		contacts := []any{
			map[string]any{"Тип": "Телефон", "Вид_Key": demoPhoneKind, "Представление": phone, "НомерТелефона": phone, "НомерТелефонаБезКодов": local},
			map[string]any{"Тип": "АдресЭлектроннойПочты", "Вид_Key": demoEmailKind, "Представление": email, "АдресЭП": email},
		}
		if r.IntN(3) == 0 {
			contacts = append(contacts, map[string]any{"Тип": "Адрес", "Представление": fmt.Sprintf("г. Екатеринбург, ул. Ленина, д. %d, кв. %d", 1+r.IntN(100), 1+r.IntN(200))})
		}
		out[SetPartners] = append(out[SetPartners], Object{
			"Ref_Key": key, "Code": fmt.Sprintf("00-%08d", i+1), "Description": name, "НаименованиеПолное": name,
			"Клиент": client, "Поставщик": !client, "ЮрФизЛицо": kind, "Пол": gender, "ДатаРождения": birth,
			"КонтактнаяИнформация": contacts,
		})
		ckey := demoGUID(r)
		inn := fmt.Sprintf("66%010d", r.Int64N(1e10))
		if legal {
			inn = inn[:10]
		}
		out[SetCounterpty] = append(out[SetCounterpty], Object{
			"Ref_Key": ckey, "Description": name, "НаименованиеПолное": name, "ИНН": inn,
			"Партнер_Key": key, "ЮрФизЛицо": kind, "ЮридическоеФизическоеЛицо": kind,
		})
		if client {
			clientKeys = append(clientKeys, key)
			counterKeys = append(counterKeys, ckey)
		}
	}
	var kindKeys, kindTypes []string
	for i := 0; i < kinds; i++ {
		k := demoCardKinds[i%len(demoCardKinds)]
		name := k.name
		if i >= len(demoCardKinds) {
			name = fmt.Sprintf("%s (%d)", k.name, i+1)
		}
		key := demoGUID(r)
		end := EmptyDate
		if i%2 == 1 {
			end = "2030-12-31T00:00:00"
		}
		out[SetCardKinds] = append(out[SetCardKinds], Object{
			"Ref_Key": key, "Description": name, "ТипКарты": k.typ,
			"ДатаНачалаДействия": "2020-01-01T00:00:00", "ДатаОкончанияДействия": end, "Персонализированная": true,
		})
		kindKeys, kindTypes = append(kindKeys, key), append(kindTypes, k.typ)
	}
	for i := 0; i < cards && len(kindKeys) > 0 && len(clientKeys) > 0; i++ {
		ki := r.IntN(len(kindKeys))
		owner := r.IntN(len(clientKeys))
		barcode, magnetic := "", ""
		if kindTypes[ki] != "Магнитная" {
			barcode = fmt.Sprintf("2%012d", 100000000+i)
		}
		if kindTypes[ki] != "Штриховая" {
			magnetic = fmt.Sprintf(";%d?", 77000000+i)
		}
		status := "Действует"
		if r.IntN(10) == 0 {
			status = "НеДействует"
		}
		desc := barcode
		if desc == "" {
			desc = magnetic
		}
		out[SetCards] = append(out[SetCards], Object{
			"Ref_Key": demoGUID(r), "Description": desc, "Owner_Key": kindKeys[ki], "Штрихкод": barcode, "МагнитныйКод": magnetic,
			"Статус": status, "Партнер_Key": clientKeys[owner], "Контрагент_Key": counterKeys[owner],
		})
	}
	for i := 0; i < DemoItems; i++ {
		out[SetItems] = append(out[SetItems], Object{
			"Ref_Key": demoGUID(r), "Code": DemoItemCode(i), "Description": demoGoods[i], "НаименованиеПолное": demoGoods[i],
			"Артикул": "АРТ-" + DemoItemCode(i), "ТипНоменклатуры": "Товар",
		})
	}
	return out
}
