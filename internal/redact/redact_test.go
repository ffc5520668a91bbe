package redact

import (
	"strings"
	"testing"
)

func TestTextRemovesPersonalData(t *testing.T) {
	cases := []struct {
		name, in string
		gone     []string
		kept     []string
	}{
		{
			name: "1C names the partner it failed to read by its presentation",
			in:   "Ошибка при чтении объекта Уникальнова Зоя Прохоровна (+7 999 000-11-22, zoya.probe@example.test, 1977-03-14T00:00:00)",
			gone: []string{"Уникальнова", "Зоя", "Прохоровна", "999", "zoya.probe", "1977"},
			kept: []string{"Ошибка при чтении объекта", "<name>", "<phone>", "<email>", "<date>"},
		},
		{
			name: "an order rejected with the counterparty, phone and address",
			in:   "Не удалось записать заказ: контрагент Зоя Прохоровна, тел. +7 999 000-11-22, адрес г. Пробск, ул. Пробная, д. 7",
			gone: []string{"Зоя", "Прохоровна", "000-11-22", "Пробск", "Пробная", "д. 7"},
			kept: []string{"Не удалось записать заказ: контрагент", "адрес <address>"},
		},
		{
			name: "a virtpos refusal quoting an e-mail and a local phone",
			in:   "Неверный email: Probe.Zoya@Example.RU; телефон 8(343)123-45-67 уже занят",
			gone: []string{"Probe.Zoya", "123-45-67", "343"},
			kept: []string{"Неверный email:", "уже занят"},
		},
		{
			name: "a surname with initials, either way round, and names in capitals",
			in:   "у партнера Иванов И.И. нет договора; ответственный И. И. Петров; клиент ПЕТРОВА МАРИЯ АНДРЕЕВНА, ПЕТРОВА М.А.",
			gone: []string{"Иванов", "Петров", "ПЕТРОВА", "МАРИЯ", "И.И."},
			kept: []string{"у партнера <name> нет договора; ответственный <name>; клиент <name>, <name>"},
		},
		{
			name: "a date in the Russian spelling",
			in:   "дата рождения 14.03.1977 в будущем",
			gone: []string{"14.03.1977"},
			kept: []string{"дата рождения <date> в будущем"},
		},
		{
			name: "a message with no personal data is left as it is",
			in:   "Поле «Организация» не заполнено (code 5)",
			kept: []string{"Поле «Организация» не заполнено (code 5)"},
		},
		{
			name: "identifiers written in CamelCase are not names",
			in:   "Document_ЗаказКлиента: Catalog_Партнеры not found; НомерПоДаннымКлиента is empty; {\"АдресДоставки\": \"<АдресДоставки>\"}",
			kept: []string{"Document_ЗаказКлиента", "Catalog_Партнеры", "НомерПоДаннымКлиента", `{"АдресДоставки": "<АдресДоставки>"}`},
		},
		{
			name: "short numbers, codes and guids stay",
			in:   "HTTP 500 code -1 item 1042 ref 8d2fa001-0000-4000-8000-000000000001",
			kept: []string{"HTTP 500 code -1 item 1042", "8d2fa001-0000-4000-8000-000000000001"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Text(tc.in)
			for _, g := range tc.gone {
				if strings.Contains(got, g) {
					t.Errorf("%q still in %q", g, got)
				}
			}
			for _, k := range tc.kept {
				if !strings.Contains(got, k) {
					t.Errorf("%q lost from %q", k, got)
				}
			}
		})
	}
}

func TestCut(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		head string
		cut  bool
	}{
		{"abc", 5, "abc", false},
		{"abc", 3, "abc", false},
		{"abcdef", 3, "abc", true},
		{"Поле", 3, "П", true}, // not half of "о"
		{"Поле", 4, "По", true},
		{"Ж", 1, "", true},
	} {
		head, cut := Cut(tt.s, tt.n)
		if head != tt.head || cut != tt.cut {
			t.Errorf("Cut(%q, %d) = %q, %v; want %q, %v", tt.s, tt.n, head, cut, tt.head, tt.cut)
		}
	}
}
