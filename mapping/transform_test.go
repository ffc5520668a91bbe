package mapping

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// applyOne compiles a single spec under param "p" and applies it.
func applyOne(t *testing.T, spec any, rec Record, r Resolver) (Params, error) {
	t.Helper()
	m, err := Compile(map[string]any{"p": spec})
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return m.Apply(rec, r)
}

type transformCase struct {
	name    string
	as      map[string]any // spec without "from"; from is always "F"
	in      any
	want    string
	absent  bool
	wantErr string // substring of the FieldError message
}

func runTransformCases(t *testing.T, cases []transformCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := map[string]any{"from": "F"}
			for k, v := range tc.as {
				spec[k] = v
			}
			got, err := applyOne(t, spec, Record{"F": tc.in}, nil)
			if tc.wantErr != "" {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want *FieldError", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %q, want it to contain %q", err, tc.wantErr)
				}
				if s, ok := tc.in.(string); ok && len(strings.TrimSpace(s)) > 0 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
					t.Fatalf("err %q leaks the value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			v, ok := got["p"]
			if tc.absent {
				if ok {
					t.Fatalf("p = %q, want absent", v)
				}
				return
			}
			if !ok || v != tc.want {
				t.Fatalf("p = %q (present %v), want %q", v, ok, tc.want)
			}
		})
	}
}

func TestPlainCopy(t *testing.T) {
	runTransformCases(t, []transformCase{
		{name: "cyrillic text survives", in: "Иванова Мария", want: "Иванова Мария"},
		{name: "trimmed", in: "  Код-1 ", want: "Код-1"},
		{name: "number keeps exact text", in: json.Number("976.590"), want: "976.590"},
		{name: "bool", in: true, want: "true"},
		{name: "null absent", in: nil, absent: true},
		{name: "blank absent", in: "   ", absent: true},
		{name: "empty GUID absent", in: EmptyGUID, absent: true},
		{name: "empty date absent", in: EmptyDate, absent: true},
		{name: "tabular section is not a value", in: []any{map[string]any{}}, wantErr: "expected a single value, got list of 1 rows"},
	})
}

func TestDateTransforms(t *testing.T) {
	runTransformCases(t, []transformCase{
		{name: "date", as: map[string]any{"as": "date"}, in: "2026-06-07T10:14:42", want: "2026-06-07"},
		{name: "datetime virtpos layout", as: map[string]any{"as": "datetime"}, in: "2026-06-07T10:14:42", want: "2026-06-07 10:14:42"},
		{name: "datetime fractional seconds", as: map[string]any{"as": "datetime"}, in: "2026-06-07T10:14:42.5", want: "2026-06-07 10:14:42"},
		{name: "day without zero padding", as: map[string]any{"as": "day"}, in: "1987-03-09T00:00:00", want: "9"},
		{name: "month", as: map[string]any{"as": "month"}, in: "1987-03-09T00:00:00", want: "3"},
		{name: "year", as: map[string]any{"as": "year"}, in: "1987-03-09T00:00:00", want: "1987"},
		{name: "bare date accepted", as: map[string]any{"as": "day"}, in: "1987-12-31", want: "31"},
		{name: "empty date absent", as: map[string]any{"as": "year"}, in: "0001-01-01T00:00:00", absent: true},
		{name: "empty string absent", as: map[string]any{"as": "date"}, in: "", absent: true},
		{name: "garbage rejected", as: map[string]any{"as": "date"}, in: "09.03.1987", wantErr: "expected a 1C date (YYYY-MM-DDThh:mm:ss), got text of 10 chars"},
		{name: "impossible date rejected", as: map[string]any{"as": "date"}, in: "1987-02-30T00:00:00", wantErr: "got text of 19 chars"},
	})
}

func TestPhone(t *testing.T) {
	ph := map[string]any{"as": "phone"}
	runTransformCases(t, []transformCase{
		{name: "8 with brackets", as: ph, in: "8 (912) 345-67-89", want: "+79123456789"},
		{name: "+7 with spaces", as: ph, in: "+7 912 345 6789", want: "+79123456789"},
		{name: "10 national digits", as: ph, in: "9123456789", want: "+79123456789"},
		{name: "7 without plus", as: ph, in: "79123456789", want: "+79123456789"},
		{name: "landline with code", as: ph, in: "8 (343) 222-33-44", want: "+73432223344"},
		{name: "foreign E.164 kept", as: ph, in: "+375 29 123-45-67", want: "+375291234567"},
		{name: "numeric JSON value", as: ph, in: json.Number("9123456789"), want: "+79123456789"},
		{name: "empty absent", as: ph, in: "", absent: true},
		{name: "short number rejected", as: ph, in: "22-33-4", wantErr: "field p (from F): expected a phone number (+7XXXXXXXXXX), got 5 digits"},
		{name: "city number without code rejected", as: ph, in: "2223344", wantErr: "got 7 digits"},
		{name: "kazakh mobile", as: ph, in: "+7 701 234 5678", want: "+77012345678"},
		{name: "toll free 8 800", as: ph, in: "8-800-555-35-35", want: "+78005553535"},
		{name: "10 digits with unused code rejected", as: ph, in: "0123456789", wantErr: "got 10 digits"},
		{name: "+7 with unused code rejected", as: ph, in: "+7 012 345 6789", wantErr: "got 11 digits"},
		{name: "+7 with 9 national digits rejected", as: ph, in: "+7 912 345 678", wantErr: "got 10 digits"},
		{name: "+8 is not Russian", as: ph, in: "+8 912 345 6789", wantErr: "got 11 digits"},
		{name: "extension rejected", as: ph, in: "+7 912 345-67-89 доб. 12", wantErr: "got text of 24 chars"},
		{name: "text rejected", as: ph, in: "нет", wantErr: "got text of 3 chars"},
		{name: "too long foreign rejected", as: ph, in: "+1234567890123456", wantErr: "got 16 digits"},
	})
}

func TestEmail(t *testing.T) {
	em := map[string]any{"as": "email"}
	runTransformCases(t, []transformCase{
		{name: "trim and lower", as: em, in: " Maria.Ivanova@Example.RU ", want: "maria.ivanova@example.ru"},
		{name: "cyrillic domain lowered", as: em, in: "Петров@Почта.РФ", want: "петров@почта.рф"},
		{name: "empty absent", as: em, in: "  ", absent: true},
		{name: "no at rejected", as: em, in: "maria.example.ru", wantErr: "expected an e-mail address, got text of 16 chars"},
		{name: "two ats rejected", as: em, in: "a@b@c.ru", wantErr: "expected an e-mail address"},
		{name: "undotted domain rejected", as: em, in: "maria@localhost", wantErr: "expected an e-mail address"},
		{name: "space inside rejected", as: em, in: "maria ivanova@example.ru", wantErr: "expected an e-mail address"},
		{name: "double dot rejected", as: em, in: "maria@example..ru", wantErr: "expected an e-mail address"},
	})
}

func TestNamePart(t *testing.T) {
	part := func(n int) map[string]any { return map[string]any{"as": "name_part", "part": n} }
	runTransformCases(t, []transformCase{
		{name: "first word", as: part(1), in: "Иванова Мария Петровна", want: "Иванова"},
		{name: "second word", as: part(2), in: "Иванова  Мария Петровна", want: "Мария"},
		{name: "rest joined", as: part(3), in: "Алиев Руслан Гасан оглы", want: "Гасан оглы"},
		{name: "missing second", as: part(2), in: "Петров", absent: true},
		{name: "missing rest", as: part(3), in: "Петров Иван", absent: true},
		{name: "empty", as: part(1), in: "", absent: true},
	})
}

func TestBool01(t *testing.T) {
	b := map[string]any{"as": "bool01"}
	runTransformCases(t, []transformCase{
		{name: "true", as: b, in: true, want: "1"},
		{name: "false", as: b, in: false, want: "0"},
		{name: "string true", as: b, in: "true", want: "1"},
		{name: "string FALSE", as: b, in: "FALSE", want: "0"},
		{name: "number 1", as: b, in: json.Number("1"), want: "1"},
		{name: "null absent", as: b, in: nil, absent: true},
		{name: "word rejected", as: b, in: "да", wantErr: "expected a boolean, got text of 2 chars"},
	})
}

func TestMapTransform(t *testing.T) {
	g := map[string]any{"map": map[string]any{"Мужской": "M", "Женский": "F"}}
	skip := map[string]any{"map": map[string]any{"Действует": "ACTIVE", "Черновик": ""}}
	runTransformCases(t, []transformCase{
		{name: "cyrillic key", as: g, in: "Женский", want: "F"},
		{name: "empty enum absent", as: g, in: "", absent: true},
		{name: "mapped to empty is absent", as: skip, in: "Черновик", absent: true},
		{name: "unmapped names allowed values", as: g, in: "Неизвестно", wantErr: "expected one of Женский, Мужской, got text of 10 chars"},
	})
}
