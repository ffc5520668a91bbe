package virtposapi

import "testing"

func TestTransientInfoIsAboutTheServiceNotTheRecord(t *testing.T) {
	cases := []struct {
		info string
		want bool
	}{
		{"Сервис временно недоступен", true},
		{"Временная ошибка, попробуйте позже", true},
		{"Too many requests", true},
		{"Service temporarily unavailable", true},
		{"Карта временно заблокирована", false},
		{"Клиент временно отключён от программы лояльности", false},
		{"Неверный формат телефона", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := transientInfo(tc.info); got != tc.want {
			t.Errorf("transientInfo(%q) = %v, want %v", tc.info, got, tc.want)
		}
	}
}
