package onectest

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/shopspring/decimal"
)

// A small parser and evaluator for the $filter subset 1C supports:
// eq ne gt ge lt le, and or not, parentheses, literals guid'..',
// datetime'..', '..' (doubled quotes), true/false/null, numbers, and
// substringof('text', Field).

type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokGuid
	tokDate
	tokNumber
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lexFilter(s string) ([]token, error) {
	var toks []token
	rs := []rune(s)
	i := 0
	readQuoted := func(start int) (string, int, error) {
		// rs[start] == '\''
		var b strings.Builder
		j := start + 1
		for {
			if j >= len(rs) {
				return "", 0, fmt.Errorf("незакрытая строка в позиции %d", start)
			}
			if rs[j] == '\'' {
				if j+1 < len(rs) && rs[j+1] == '\'' {
					b.WriteRune('\'')
					j += 2
					continue
				}
				return b.String(), j + 1, nil
			}
			b.WriteRune(rs[j])
			j++
		}
	}
	for i < len(rs) {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case r == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case r == ',':
			toks = append(toks, token{tokComma, ",", i})
			i++
		case r == '\'':
			str, next, err := readQuoted(i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tokString, str, i})
			i = next
		case unicode.IsDigit(r) || (r == '-' && i+1 < len(rs) && unicode.IsDigit(rs[i+1])):
			j := i + 1
			for j < len(rs) && (unicode.IsDigit(rs[j]) || rs[j] == '.') {
				j++
			}
			text := string(rs[i:j])
			// OData type suffixes: 1.5M, 2d, 3L.
			if j < len(rs) && strings.ContainsRune("MmDdLlFf", rs[j]) {
				j++
			}
			toks = append(toks, token{tokNumber, text, i})
			i = j
		case unicode.IsLetter(r) || r == '_':
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '/') {
				j++
			}
			word := string(rs[i:j])
			if j < len(rs) && rs[j] == '\'' {
				str, next, err := readQuoted(j)
				if err != nil {
					return nil, err
				}
				switch strings.ToLower(word) {
				case "guid":
					if !isGUID(str) {
						return nil, fmt.Errorf("неверный литерал guid'%s'", str)
					}
					toks = append(toks, token{tokGuid, strings.ToLower(str), i})
				case "datetime":
					d, err := parseDateLiteral(str)
					if err != nil {
						return nil, err
					}
					toks = append(toks, token{tokDate, d, i})
				default:
					return nil, fmt.Errorf("неизвестный тип литерала %s в позиции %d", word, i)
				}
				i = next
				continue
			}
			toks = append(toks, token{tokIdent, word, i})
			i = j
		default:
			return nil, fmt.Errorf("неожиданный символ %q в позиции %d", r, i)
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(rs)}), nil
}

func parseDateLiteral(s string) (string, error) {
	for _, layout := range []string{dateLayout, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(dateLayout), nil
		}
	}
	return "", fmt.Errorf("неверный литерал datetime'%s'", s)
}

// node is a filter expression.
type node interface{}

type (
	binNode struct {
		op   string // eq ne gt ge lt le and or
		l, r node
	}
	notNode  struct{ x node }
	litNode  struct{ v any } // string, bool, decimal.Decimal, nil
	fieldRef struct {
		name string
		typ  edmType
		pos  int // see field.pos
	}
	substringNode struct{ needle, hay node }
)

// fieldLookup resolves a property name to its type.
type fieldLookup func(name string) (field, bool)

type filterParser struct {
	toks   []token
	i      int
	lookup fieldLookup
}

// parseFilter parses and checks a $filter against the entity's fields.
// Errors are 1C-style code 14 (query options) errors.
func parseFilter(s string, lookup fieldLookup) (node, error) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks, lookup: lookup}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("лишний текст %q в позиции %d", t.text, t.pos)
	}
	return n, nil
}

func (p *filterParser) peek() token { return p.toks[p.i] }
func (p *filterParser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *filterParser) keyword(w string) bool {
	t := p.peek()
	if t.kind == tokIdent && strings.EqualFold(t.text, w) {
		p.i++
		return true
	}
	return false
}

func (p *filterParser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = binNode{op: "or", l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) and() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = binNode{op: "and", l: l, r: r}
	}
	return l, nil
}

func (p *filterParser) unary() (node, error) {
	if p.keyword("not") {
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.cmp()
}

var cmpOps = map[string]bool{"eq": true, "ne": true, "gt": true, "ge": true, "lt": true, "le": true}

func (p *filterParser) cmp() (node, error) {
	l, err := p.primary()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tokIdent || !cmpOps[strings.ToLower(t.text)] {
		return l, nil
	}
	p.i++
	op := strings.ToLower(t.text)
	r, err := p.primary()
	if err != nil {
		return nil, err
	}
	if op != "eq" && op != "ne" {
		// 1C cannot order references: it refuses range comparisons on them.
		for _, side := range []node{l, r} {
			if f, ok := side.(fieldRef); ok && (f.typ == tGuid || isKeyField(f.name)) {
				return nil, fmt.Errorf("операция сравнения %s недопустима для поля ссылочного типа %s", op, f.name)
			}
			if lit, ok := side.(litNode); ok {
				if g, ok := lit.v.(guidLit); ok {
					return nil, fmt.Errorf("операция сравнения %s недопустима для значения guid'%s'", op, string(g))
				}
			}
		}
	}
	// A reference compares only with a guid literal: 1C answers a text
	// literal there with a type mismatch, and so must the fake, or a client
	// sending 'text' for a reference passes here and fails in production.
	for _, pair := range [][2]node{{l, r}, {r, l}} {
		f, ok := pair[0].(fieldRef)
		lit, isLit := pair[1].(litNode)
		if ok && isLit && (f.typ == tGuid || isKeyField(f.name)) {
			if _, isText := lit.v.(string); isText {
				return nil, fmt.Errorf("несовместимые типы в операции сравнения: поле ссылочного типа %s и строка", f.name)
			}
		}
	}
	return binNode{op: op, l: l, r: r}, nil
}

// guidLit marks a guid'..' literal so that range comparisons can refuse it.
type guidLit string

func (p *filterParser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tokLParen:
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.next().kind != tokRParen {
			return nil, fmt.Errorf("ожидается ) в позиции %d", t.pos)
		}
		return n, nil
	case tokString:
		return litNode{t.text}, nil
	case tokGuid:
		return litNode{guidLit(t.text)}, nil
	case tokDate:
		return litNode{t.text}, nil
	case tokNumber:
		d, err := decimal.NewFromString(t.text)
		if err != nil {
			return nil, fmt.Errorf("неверное число %q", t.text)
		}
		return litNode{d}, nil
	case tokIdent:
		switch strings.ToLower(t.text) {
		case "true":
			return litNode{true}, nil
		case "false":
			return litNode{false}, nil
		case "null":
			return litNode{nil}, nil
		case "substringof":
			return p.substringof(t)
		}
		if strings.Contains(t.text, "/") {
			return nil, fmt.Errorf("обращение к реквизитам через / не поддерживается: %s", t.text)
		}
		if p.peek().kind == tokLParen {
			return nil, fmt.Errorf("неизвестная функция %s", t.text)
		}
		f, ok := p.lookup(t.text)
		if !ok {
			return nil, fmt.Errorf("свойство %s не найдено", t.text)
		}
		return fieldRef{name: f.Name, typ: f.Type, pos: f.pos}, nil
	}
	return nil, fmt.Errorf("ожидается операнд в позиции %d", t.pos)
}

func (p *filterParser) substringof(t token) (node, error) {
	if p.next().kind != tokLParen {
		return nil, fmt.Errorf("ожидается ( после substringof в позиции %d", t.pos)
	}
	needle, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.next().kind != tokComma {
		return nil, fmt.Errorf("substringof ожидает два аргумента")
	}
	hay, err := p.primary()
	if err != nil {
		return nil, err
	}
	if p.next().kind != tokRParen {
		return nil, fmt.Errorf("ожидается ) после аргументов substringof")
	}
	return substringNode{needle: needle, hay: hay}, nil
}

// valueSource gives a filter the values of the object it tests, in stored
// form (see normalize).
type valueSource interface {
	value(f fieldRef) any
}

func (o Object) value(f fieldRef) any { return o[f.name] }

// evalFilter tells whether an object matches the expression.
func evalFilter(n node, o valueSource) (bool, error) {
	v, err := evalNode(n, o)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("выражение отбора должно быть логическим")
	}
	return b, nil
}

func evalNode(n node, o valueSource) (any, error) {
	switch x := n.(type) {
	case litNode:
		if g, ok := x.v.(guidLit); ok {
			return string(g), nil
		}
		return x.v, nil
	case fieldRef:
		return o.value(x), nil
	case notNode:
		b, err := evalFilter(x.x, o)
		return !b, err
	case substringNode:
		needle, err := evalNode(x.needle, o)
		if err != nil {
			return nil, err
		}
		hay, err := evalNode(x.hay, o)
		if err != nil {
			return nil, err
		}
		ns, ok1 := needle.(string)
		hs, ok2 := hay.(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("substringof ожидает строки")
		}
		return strings.Contains(strings.ToLower(hs), strings.ToLower(ns)), nil
	case binNode:
		if x.op == "and" || x.op == "or" {
			l, err := evalFilter(x.l, o)
			if err != nil {
				return nil, err
			}
			if x.op == "and" && !l {
				return false, nil
			}
			if x.op == "or" && l {
				return true, nil
			}
			return evalFilter(x.r, o)
		}
		l, err := evalNode(x.l, o)
		if err != nil {
			return nil, err
		}
		r, err := evalNode(x.r, o)
		if err != nil {
			return nil, err
		}
		c, err := compareValues(l, r)
		if err != nil {
			return nil, err
		}
		switch x.op {
		case "eq":
			return c == 0, nil
		case "ne":
			return c != 0, nil
		case "gt":
			return c > 0, nil
		case "ge":
			return c >= 0, nil
		case "lt":
			return c < 0, nil
		case "le":
			return c <= 0, nil
		}
	}
	return nil, fmt.Errorf("неизвестный узел выражения %T", n)
}

// compareValues orders two stored or literal values of the same kind.
func compareValues(a, b any) (int, error) {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0, nil
		case a == nil:
			return -1, nil
		}
		return 1, nil
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return strings.Compare(x, y), nil
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0, nil
			case !x:
				return -1, nil
			}
			return 1, nil
		}
	case decimal.Decimal:
		switch y := b.(type) {
		case decimal.Decimal:
			return x.Cmp(y), nil
		case int64:
			return x.Cmp(decimal.NewFromInt(y)), nil
		}
	case int64:
		switch y := b.(type) {
		case decimal.Decimal:
			return decimal.NewFromInt(x).Cmp(y), nil
		case int64:
			return decimal.NewFromInt(x).Cmp(decimal.NewFromInt(y)), nil
		}
	}
	return 0, fmt.Errorf("несовместимые типы в сравнении: %v и %v", a, b)
}
