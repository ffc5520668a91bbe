package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a config file.
type Problem struct {
	// Line in the file, 0 when unknown (validation of decoded values).
	Line int
	// Key is the dotted key path ("virtpos.retry.max"); "" for problems
	// not tied to a key (a missing environment variable, a syntax error).
	Key string
	// Reason says what is wrong and what is expected.
	Reason string
}

// Error is a config that cannot be used: every problem found, so the user
// fixes them in one go. The daemon exits 2 on it.
type Error struct {
	// File is the config file, "" when validating a Config built in code.
	File string
	// Problems, in file order where known.
	Problems []Problem
}

// Error lists every problem, one per line, as "file:line: key: reason".
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(e.format(p))
	}
	return b.String()
}

func (e *Error) format(p Problem) string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	return b.String()
}

// Load reads the YAML file at path, decodes it over Default() rejecting
// unknown keys, substitutes environment variables in its values using env
// (usually os.LookupEnv; nil means no variables), and validates the result.
//
// Substitution happens after parsing and only inside values, never in keys
// or comments: ${NAME} is replaced by the variable, ${NAME:default} falls
// back to "default" when NAME is unset (a variable that is set, even empty,
// wins), "$$" writes a literal "$", and a "$" not followed by "{" or "$" is
// kept. A substituted value is used byte for byte and can never add a key
// or change a key's type: in a string key it is that string, whatever
// characters it holds; in a number, boolean or duration key it is parsed as
// that type (an empty result there keeps the default, as an empty key
// does); inside field specs it is a string.
//
// Every problem (missing variables, unknown keys, bad values) is reported in
// one *Error, with the line and key where known; reading the file can also
// fail with an *fs.PathError.
func Load(path string, env func(string) (string, bool)) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return parse(path, raw, env)
}

func parse(path string, raw []byte, env func(string) (string, bool)) (Config, error) {
	cfg, lines, err := decode(path, raw, env)
	if err != nil {
		return Config{}, err
	}
	return cfg, validate(path, cfg, lines)
}

// decode parses raw, substitutes variables and decodes it over Default()
// without validating the values. lines maps each dotted key in the file to
// the line it is on, so that validation problems can name it.
func decode(path string, raw []byte, env func(string) (string, bool)) (Config, map[string]int, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	cfg := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		reason := strings.TrimPrefix(err.Error(), "yaml: ")
		if strings.Contains(reason, "did not find expected") && bytes.Contains(raw, []byte("${")) {
			// Substitution used to be textual, so {key: ${NAME}} worked; a
			// plain scalar in flow context cannot hold "{" or "}".
			reason += ` (inside {...} or [...], quote a reference: "${NAME}")`
		}
		return Config{}, nil, &Error{File: path, Problems: []Problem{{Reason: reason}}}
	}
	if len(doc.Content) == 0 {
		// An empty file: defaults only.
		return cfg, nil, nil
	}
	w := walker{
		env:      env,
		lines:    map[string]int{},
		missing:  map[string]bool{},
		done:     map[*yaml.Node]bool{},
		unusable: map[*yaml.Node]bool{},
		fromEnv:  map[*yaml.Node][]string{},
	}
	root := doc.Content[0]
	if probs := w.walk(root, reflect.TypeFor[Config](), ""); len(probs) > 0 {
		return Config{}, nil, &Error{File: path, Problems: probs}
	}
	if err := root.Decode(&cfg); err != nil {
		// walk should have caught it; keep yaml's own words.
		return Config{}, nil, &Error{File: path, Problems: []Problem{{Reason: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	return cfg, w.lines, nil
}

func validate(path string, cfg Config, lines map[string]int) error {
	if err := cfg.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = path
			for i, p := range ce.Problems {
				if p.Line == 0 {
					ce.Problems[i].Line = lines[p.Key]
				}
			}
		}
		return err
	}
	return nil
}

// walker checks the document against the Config type, reporting unknown
// keys, duplicate keys and values of the wrong shape with their line and
// dotted key path (yaml's own errors name neither the path nor, for
// KnownFields, the file position reliably), and substitutes variables in
// the scalar values it passes, setting each one's tag from the Go type of
// its key so that yaml decodes it as that type and nothing else.
type walker struct {
	env func(string) (string, bool)
	// lines maps a dotted key to the line of that key in the file.
	lines map[string]int
	// missing holds the unset variables already reported: each is
	// reported once, at its first use.
	missing map[string]bool
	// done holds the scalars already substituted: an alias visits its
	// anchor again, and "$$" must not be unescaped twice.
	done map[*yaml.Node]bool
	// unusable holds the scalars whose substitution failed; their type is
	// not checked, the substitution problem says it all.
	unusable map[*yaml.Node]bool
	// fromEnv lists, per scalar, the variables whose values went into it.
	// Those values are not repeated in problems: they may be secrets.
	fromEnv map[*yaml.Node][]string
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, key string) []Problem {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with no value keeps the default
	}
	switch {
	case t == reflect.TypeFor[Duration]():
		if n.Kind != yaml.ScalarNode {
			return []Problem{{Line: n.Line, Key: key, Reason: "want a duration such as 30s or 720h, got a " + kindName(n.Kind)}}
		}
		probs, ok := w.substitute(n, key, false)
		if !ok || n.Tag == "!!null" {
			return probs
		}
		if _, err := time.ParseDuration(n.Value); err != nil {
			return append(probs, Problem{Line: n.Line, Key: key, Reason: "want a duration such as 30s or 720h, " + w.got(n)})
		}
		return probs
	case t == reflect.TypeFor[map[string]any]():
		if n.Kind != yaml.MappingNode {
			return []Problem{{Line: n.Line, Key: key, Reason: "want a mapping of virtpos parameter to field spec, got a " + kindName(n.Kind)}}
		}
		return w.any(n, key)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return []Problem{{Line: n.Line, Key: key, Reason: "want a list, got a " + kindName(n.Kind)}}
		}
		var probs []Problem
		for i, c := range n.Content {
			probs = append(probs, w.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", key, i))...)
		}
		return probs
	case t.Kind() == reflect.Struct && n.Kind == yaml.ScalarNode && reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()):
		// A struct with a short scalar form (an item match: "Code").
		probs, ok := w.substitute(n, key, true)
		if !ok {
			return probs
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return append(probs, Problem{Line: n.Line, Key: key, Reason: err.Error()})
		}
		return probs
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return []Problem{{Line: n.Line, Key: key, Reason: "want a mapping, got a " + kindName(n.Kind)}}
		}
		fields := map[string]reflect.Type{}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		var probs []Problem
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			path := join(key, k.Value)
			ft, ok := fields[k.Value]
			switch {
			case !ok:
				probs = append(probs, Problem{Line: k.Line, Key: path, Reason: "unknown key"})
			case seen[k.Value]:
				probs = append(probs, Problem{Line: k.Line, Key: path, Reason: "duplicate key"})
			default:
				w.lines[path] = k.Line
				probs = append(probs, w.walk(v, ft, path)...)
			}
			seen[k.Value] = true
		}
		return probs
	default:
		if n.Kind != yaml.ScalarNode {
			return []Problem{{Line: n.Line, Key: key, Reason: "want a single value, got a " + kindName(n.Kind)}}
		}
		probs, ok := w.substitute(n, key, t.Kind() == reflect.String)
		if !ok || n.Tag == "!!null" {
			return probs
		}
		probe := reflect.New(t)
		if err := n.Decode(probe.Interface()); err != nil {
			return append(probs, Problem{Line: n.Line, Key: key, Reason: fmt.Sprintf("want %s, %s", typeName(t), w.got(n))})
		}
		return probs
	}
}

// any substitutes every scalar value under n, a field spec whose shape is
// package mapping's business. Substituted values are strings there.
func (w *walker) any(n *yaml.Node, key string) []Problem {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	var probs []Problem
	switch n.Kind {
	case yaml.ScalarNode:
		p, _ := w.substitute(n, key, true)
		probs = append(probs, p...)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			probs = append(probs, w.any(n.Content[i+1], join(key, n.Content[i].Value))...)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			probs = append(probs, w.any(c, fmt.Sprintf("%s[%d]", key, i))...)
		}
	}
	return probs
}

// substitute expands the variables in scalar n once. If the value
// changed, n is retagged: a string key (str) takes it as a string byte for
// byte; any other key re-resolves it as a plain scalar, so that yaml
// parses it as the key's type. ok is false when the value is unusable.
func (w *walker) substitute(n *yaml.Node, key string, str bool) (probs []Problem, ok bool) {
	if w.done[n] {
		return nil, !w.unusable[n]
	}
	w.done[n] = true
	r := expand(n.Value, w.env)
	for _, bad := range r.bad {
		probs = append(probs, Problem{Line: n.Line, Key: key, Reason: bad})
	}
	for _, name := range r.missing {
		if !w.missing[name] {
			w.missing[name] = true
			probs = append(probs, Problem{Line: n.Line, Key: key, Reason: fmt.Sprintf("environment variable %s is not set", name)})
		}
	}
	if len(r.bad) > 0 || len(r.missing) > 0 {
		w.unusable[n] = true
		return probs, false
	}
	if r.out == n.Value {
		return nil, true
	}
	n.Value = r.out
	w.fromEnv[n] = r.fromEnv
	if str {
		n.Tag = "!!str"
	} else {
		n.Style = 0
		n.Tag = ""
		n.Tag = n.ShortTag()
	}
	return nil, true
}

// got describes the value of n for a problem: quoted when it comes from
// the file, named by its variables when any part came from the
// environment.
func (w *walker) got(n *yaml.Node) string {
	vars := w.fromEnv[n]
	if len(vars) == 0 {
		return fmt.Sprintf("got %q", n.Value)
	}
	refs := make([]string, len(vars))
	for i, v := range vars {
		refs[i] = "${" + v + "}"
	}
	return "got the value of " + strings.Join(refs, ", ") + " (not shown: it comes from the environment)"
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	default:
		return "a " + t.Kind().String()
	}
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		return "single value"
	default:
		return "document"
	}
}

// expansion is the result of expanding one value.
type expansion struct {
	out string
	// fromEnv are the variables whose (set) values went into out.
	fromEnv []string
	// missing are the variables that are unset and have no default.
	missing []string
	// bad describes each malformed reference.
	bad []string
}

// expand replaces ${VAR} and ${VAR:default} in s, and "$$" by "$". The
// values inserted are not expanded again.
func expand(s string, env func(string) (string, bool)) expansion {
	var (
		b strings.Builder
		r expansion
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 || strings.IndexByte(s[i+2:i+2+end], '\n') >= 0 {
			r.bad = append(r.bad, `"${" without a closing "}" on the same line (write "$$" for a literal "$")`)
			b.WriteByte(c)
			continue
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":")
		i += 2 + end
		if !validName(name) {
			r.bad = append(r.bad, fmt.Sprintf("bad variable reference %q: want ${NAME} or ${NAME:default}", "${"+ref+"}"))
			continue
		}
		if v, ok := env(name); ok {
			b.WriteString(v)
			r.fromEnv = append(r.fromEnv, name)
		} else if hasDef {
			b.WriteString(def)
		} else {
			r.missing = append(r.missing, name)
		}
	}
	r.out = b.String()
	return r
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
