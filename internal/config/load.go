package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"

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

// Load reads the YAML file at path, expands ${VAR} and ${VAR:default}
// using env (usually os.LookupEnv; nil means no variables), decodes it over
// Default() rejecting unknown keys, and validates the result.
//
// Expansion is textual and happens before parsing, comments included: "$$"
// writes a literal "$"; a "$" not followed by "{" or "$" is kept. A variable
// that is set, even empty, wins over its default; an unset variable without
// a default is an error. Quote expanded secrets ("${ONEC_PASSWORD}") so
// characters such as "#" or ": " in them stay part of the value.
//
// Every problem (missing variables, unknown keys, bad values) is reported in
// one *Error; reading the file can also fail with an *fs.PathError.
func Load(path string, env func(string) (string, bool)) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return parse(path, raw, env)
}

func parse(path string, raw []byte, env func(string) (string, bool)) (Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	text, probs := expand(string(raw), env)
	if len(probs) > 0 {
		return Config{}, &Error{File: path, Problems: probs}
	}
	cfg := Default()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return Config{}, &Error{File: path, Problems: []Problem{{Reason: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	if len(doc.Content) == 0 {
		// An empty file: defaults only.
		return cfg, validate(path, cfg)
	}
	if probs := check(doc.Content[0], reflect.TypeFor[Config](), ""); len(probs) > 0 {
		return Config{}, &Error{File: path, Problems: probs}
	}
	dec := yaml.NewDecoder(bytes.NewReader([]byte(text)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		// check should have caught it; keep yaml's own words.
		return Config{}, &Error{File: path, Problems: []Problem{{Reason: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	return cfg, validate(path, cfg)
}

func validate(path string, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ce.File = path
		}
		return err
	}
	return nil
}

// check walks the document against the Config type and reports unknown
// keys, duplicate keys and values of the wrong shape with their line and
// dotted key path. yaml's own errors name neither the path nor, for
// KnownFields, the file position reliably.
func check(n *yaml.Node, t reflect.Type, key string) []Problem {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // "key:" with no value keeps the default
	}
	switch {
	case t == reflect.TypeFor[Duration]():
		if _, err := parseDuration(n); err != nil {
			return []Problem{{Line: n.Line, Key: key, Reason: err.Error()}}
		}
		return nil
	case t == reflect.TypeFor[map[string]any]():
		if n.Kind != yaml.MappingNode {
			return []Problem{{Line: n.Line, Key: key, Reason: "want a mapping of virtpos parameter to field spec, got a " + kindName(n.Kind)}}
		}
		return nil
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
				probs = append(probs, check(v, ft, path)...)
			}
			seen[k.Value] = true
		}
		return probs
	default:
		if n.Kind != yaml.ScalarNode {
			return []Problem{{Line: n.Line, Key: key, Reason: "want a single value, got a " + kindName(n.Kind)}}
		}
		var probe = reflect.New(t)
		if err := n.Decode(probe.Interface()); err != nil {
			return []Problem{{Line: n.Line, Key: key, Reason: fmt.Sprintf("want %s, got %q", typeName(t), n.Value)}}
		}
		return nil
	}
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

// expand replaces ${VAR} and ${VAR:default} in s, and "$$" by "$". It
// returns one problem per distinct missing variable (with the line of its
// first use) or per malformed reference.
func expand(s string, env func(string) (string, bool)) (string, []Problem) {
	var (
		b       strings.Builder
		probs   []Problem
		missing = map[string]bool{}
		line    = 1
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			line++
		}
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
			probs = append(probs, Problem{Line: line, Reason: `"${" without a closing "}" on the same line (write "$$" for a literal "$")`})
			b.WriteByte(c)
			continue
		}
		ref := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(ref, ":")
		i += 2 + end
		if !validName(name) {
			probs = append(probs, Problem{Line: line, Reason: fmt.Sprintf("bad variable reference %q: want ${NAME} or ${NAME:default}", "${"+ref+"}")})
			continue
		}
		if v, ok := env(name); ok {
			b.WriteString(v)
		} else if hasDef {
			b.WriteString(def)
		} else if !missing[name] {
			missing[name] = true
			probs = append(probs, Problem{Line: line, Reason: fmt.Sprintf("environment variable %s is not set", name)})
		}
	}
	return b.String(), probs
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
