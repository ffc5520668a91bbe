// Package redact removes what looks like personal data from free text that
// another system wrote: the messages of 1C and virtpos errors. virtsync
// keeps such text because it tells an operator what to fix ("Поле
// «Организация» не заполнено"), but 1C likes to name the object it failed
// on by its presentation, which for a partner is the person's name, and a
// server may quote the phone or e-mail it refused. Values virtsync itself
// sent are replaced by their field names by the clients; this package is
// the net under that for values it did not send.
//
// It is deliberately greedy: a proper noun or a date in an error message
// costs a little context, a name in a log costs the user's trust.
package redact

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	email = regexp.MustCompile(`[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)+`)
	// A phone: a run of digits, with the separators people type, holding
	// at least 7 digits (city numbers) and starting with a digit or +.
	phone = regexp.MustCompile(`\+?\d(?:[\d\s\-().]{5,}\d)`)
	// Dates in 1C's and people's spellings: 1977-03-14, 1977-03-14T00:00:00,
	// 14.03.1977, 14/03/1977.
	date = regexp.MustCompile(`\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?|\d{1,2}[./]\d{1,2}[./]\d{4}`)
	// Address parts: "ул. Пробная", "д. 7", "кв 12", "г. Пробск" ... up to
	// the next comma, and whatever follows the word "адрес".
	addressWord = regexp.MustCompile(`(?i)(?:^|[\s,(«"])((?:г|ул|пр-т|просп|пер|ш|наб|пл|б-р|мкр|д|дом|кв|корп|стр|обл|р-н)\.?\s+[^\s,;)»"]+)`)
	// "адрес" as a word of its own, not the start of a field name such as
	// АдресДоставки.
	addressTail = regexp.MustCompile(`(^|[^\p{L}_])([Аа]дрес[а-яё]*)(?:\s*:\s*|\s+)[^;)»"\\\n]+`)
	// Two or three capitalised Cyrillic words in a row: a name and
	// patronymic, a surname and name. Russian prose capitalises only its
	// first word, so this rarely hits anything else.
	// A surname with initials, either way round, in any case: Иванов
	// И.И., И. И. Иванов, ПЕТРОВА М.А.
	initials = regexp.MustCompile(`[А-ЯЁ][А-ЯЁа-яё]+(?:-[А-ЯЁ][А-ЯЁа-яё]+)?\s+[А-ЯЁ]\.\s?(?:[А-ЯЁ]\.?)?|[А-ЯЁ]\.\s?(?:[А-ЯЁ]\.\s?)?[А-ЯЁ][А-ЯЁа-яё]+`)
	// Two or three words in capitals, as names are written in some bases.
	capsName = regexp.MustCompile(`[А-ЯЁ]{2,}(?:-[А-ЯЁ]{2,})?(?:\s+[А-ЯЁ]{2,}(?:-[А-ЯЁ]{2,})?){1,2}`)
	name     = regexp.MustCompile(`[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?(?:\s+[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?){1,2}`)
)

// guid is a 1C reference: an id, never personal, and full of digit runs
// that would read as phone numbers.
var guid = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// Text returns s with e-mails, phone numbers, dates, address parts and
// personal names replaced by <email>, <phone>, <date>, <address> and
// <name>. 1C references (GUIDs) are kept.
func Text(s string) string {
	if s == "" {
		return s
	}
	locs := guid.FindAllStringIndex(s, -1)
	if locs == nil {
		return text(s)
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		b.WriteString(text(s[last:l[0]]))
		b.WriteString(s[l[0]:l[1]])
		last = l[1]
	}
	b.WriteString(text(s[last:]))
	return b.String()
}

func text(s string) string {
	s = email.ReplaceAllString(s, "<email>")
	s = date.ReplaceAllString(s, "<date>")
	s = phone.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits < 7 {
			return m
		}
		return "<phone>"
	})
	s = addressTail.ReplaceAllString(s, "$1$2 <address>")
	s = addressWord.ReplaceAllStringFunc(s, func(m string) string {
		// Keep the separator the match started with.
		r, n := utf8.DecodeRuneInString(m)
		if unicode.IsSpace(r) || strings.ContainsRune(`,(«"`, r) {
			return m[:n] + "<address>"
		}
		return "<address>"
	})
	s = replaceWords(s, initials)
	s = replaceWords(s, capsName)
	s = replaceWords(s, name)
	return s
}

// replaceWords replaces name-like runs that stand as words of their own
// (not the tail of a longer CamelCase identifier such as ЗаказКлиента).
func replaceWords(s string, re *regexp.Regexp) string {
	locs := re.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		before, _ := utf8.DecodeLastRuneInString(s[:l[0]])
		after, _ := utf8.DecodeRuneInString(s[l[1]:])
		if l[0] > 0 && (unicode.IsLetter(before) || before == '_') || l[1] < len(s) && (unicode.IsLetter(after) || after == '_') {
			continue
		}
		b.WriteString(s[last:l[0]])
		b.WriteString("<name>")
		last = l[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// Cut shortens s to at most n bytes without splitting a UTF-8 sequence
// (Cyrillic is two bytes a letter), so that an error quotes a bounded
// head of another system's text; cut reports whether anything was dropped.
func Cut(s string, n int) (head string, cut bool) {
	if len(s) <= n {
		return s, false
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], true
}
