package onectest

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"
)

func testLookup(name string) (field, bool) {
	types := map[string]edmType{
		"Ref_Key": tGuid, "Партнер_Key": tGuid, "Description": tString, "Клиент": tBool,
		"Сумма": tDouble, "Date": tDate, "LineNumber": tInt64,
	}
	t, ok := types[name]
	return field{Name: name, Type: t}, ok
}

func TestFilterEval(t *testing.T) {
	obj := Object{
		"Ref_Key": "8d1d7287-6240-11f1-9296-08002761f3c5", "Партнер_Key": EmptyGUID,
		"Description": "Гостиница \"Заря\" O'Neil", "Клиент": true,
		"Сумма": decimal.RequireFromString("461111.9"), "Date": "2026-06-07T10:14:42", "LineNumber": int64(3),
	}
	cases := []struct {
		name   string
		filter string
		want   bool
	}{
		{"guid eq", "Ref_Key eq guid'8D1D7287-6240-11F1-9296-08002761F3C5'", true},
		{"guid ne empty", "Партнер_Key ne guid'00000000-0000-0000-0000-000000000000'", false},
		{"bool literal", "Клиент eq true", true},
		{"bare bool field", "Клиент", true},
		{"not", "not Клиент eq true", false},
		{"and binds tighter than or", "Клиент eq false and Клиент eq false or Клиент eq true", true},
		{"parentheses", "Клиент eq false and (Клиент eq false or Клиент eq true)", false},
		{"doubled quote", "Description eq 'Гостиница \"Заря\" O''Neil'", true},
		{"number gt", "Сумма gt 461111.89", true},
		{"number le", "Сумма le 461111.9", true},
		{"integer literal vs double", "Сумма lt 500000", true},
		{"int64", "LineNumber ge 3 and LineNumber lt 4", true},
		{"datetime lt", "Date lt datetime'2026-06-07T10:14:43'", true},
		{"datetime date only", "Date ge datetime'2026-06-07'", true},
		{"substringof case-insensitive", "substringof('ЗАРЯ', Description)", true},
		{"substringof miss", "substringof('Восход', Description)", false},
		{"case-insensitive keywords", "Клиент EQ true AND NOT (Сумма LT 1)", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := parseFilter(tc.filter, testLookup)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got, err := evalFilter(n, obj)
			if err != nil {
				t.Fatalf("eval: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilterParseErrors(t *testing.T) {
	cases := []struct {
		name, filter, wantInErr string
	}{
		{"gt on Ref_Key", "Ref_Key gt guid'8d1d7287-6240-11f1-9296-08002761f3c5'", "ссылочного"},
		{"lt on X_Key reversed", "guid'8d1d7287-6240-11f1-9296-08002761f3c5' lt Партнер_Key", "недопустима"},
		{"ge on guid literal vs string", "Description ge guid'8d1d7287-6240-11f1-9296-08002761f3c5'", "guid"},
		{"unknown field", "Нет eq 1", "не найдено"},
		{"navigation path", "Партнер/Description eq 'x'", "/"},
		{"unclosed string", "Description eq 'abc", "незакрытая"},
		{"bad guid", "Ref_Key eq guid'xyz'", "guid"},
		{"bad datetime", "Date eq datetime'31.01.2025'", "datetime"},
		{"unknown literal type", "Date eq time'10:00'", "литерала"},
		{"missing operand", "Клиент eq", "операнд"},
		{"unbalanced", "(Клиент eq true", ")"},
		{"trailing", "Клиент eq true true", "лишний"},
		{"unknown function", "startswith(Description, 'a')", "функция"},
		{"substringof arity", "substringof('a')", "аргумента"},
		{"bad char", "Клиент eq true & 1", "символ"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFilter(tc.filter, testLookup)
			if err == nil || !strings.Contains(err.Error(), tc.wantInErr) {
				t.Fatalf("err = %v, want containing %q", err, tc.wantInErr)
			}
		})
	}
}

func TestFilterEvalTypeMismatch(t *testing.T) {
	n, err := parseFilter("Сумма eq 'abc'", testLookup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evalFilter(n, Object{"Сумма": decimal.NewFromInt(1)}); err == nil {
		t.Error("comparing a number with a string did not fail")
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"Клиент eq true", "substringof('a', Description) or not (Сумма gt 1.5)", "Ref_Key eq guid'8d1d7287-6240-11f1-9296-08002761f3c5'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseFilter(s, testLookup)
		if err != nil {
			return
		}
		_, _ = evalFilter(n, Object{"Клиент": true, "Description": "x", "Сумма": decimal.Zero})
	})
}
