package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/virtsync/virtsync/internal/config"
)

// writeConfig derives the demo's config from the template: the template's
// keys and comments stay, and only what this run decides is set (where
// the fakes listen, where state goes, and the settings that make a
// 2-core machine finish the demo quickly). It returns the embedded NATS
// store directory as virtsync itself computes it, after checking that
// virtsync accepts the file.
func writeConfig(template, path, dataDir, virtposURL, onecURL string) (string, error) {
	raw, err := os.ReadFile(template)
	if err != nil {
		return "", fmt.Errorf("read the config template: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return "", fmt.Errorf("%s: %w", template, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return "", fmt.Errorf("%s: not a YAML mapping", template)
	}
	root := doc.Content[0]
	for _, s := range []struct {
		key string
		val any
	}{
		{"state.path", filepath.Join(dataDir, "virtsync.db")},
		{"nats.url", ""}, // virtsync's own embedded NATS, beside the state
		{"log.level", "warn"},
		{"virtpos.base_url", virtposURL},
		// The fake's key, written out: the demo config must not pick up
		// a real VIRTPOS_APIKEY from the environment.
		{"virtpos.apikey", virtposKey},
		{"virtpos.rate_limit", 0},
		{"virtpos.concurrency", 8},
		{"onec.base_url", onecURL},
		{"onec.user", onecUser},
		{"onec.password", onecPassword},
	} {
		if err := setKey(root, strings.Split(s.key, "."), s.val); err != nil {
			return "", fmt.Errorf("%s: %s: %w", template, s.key, err)
		}
	}
	doc.HeadComment = fmt.Sprintf("Written by virtsync-demo from %s; rewritten on every run.\n%s", template,
		strings.TrimPrefix(doc.HeadComment, "#"))
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		return "", fmt.Errorf("virtsync refuses the demo config: %w", err)
	}
	return cfg.NATSStoreDir(), nil
}

// setKey sets root[path...] to val, creating mappings on the way.
func setKey(root *yaml.Node, path []string, val any) error {
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s is not a mapping", root.Value)
	}
	for i := 0; i < len(root.Content); i += 2 {
		if root.Content[i].Value != path[0] {
			continue
		}
		v := root.Content[i+1]
		if len(path) > 1 {
			return setKey(v, path[1:], val)
		}
		var n yaml.Node
		if err := n.Encode(val); err != nil {
			return err
		}
		n.LineComment = v.LineComment
		*v = n
		return nil
	}
	// Not in the template: add it.
	k := &yaml.Node{Kind: yaml.ScalarNode, Value: path[0]}
	v := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, k, v)
	if len(path) > 1 {
		return setKey(v, path[1:], val)
	}
	return v.Encode(val)
}
