package virtposapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
)

// MaxSmallResponse caps the body of every call but GET /orders (which is
// streamed): customer/update, the card calls and GET /customer are read
// whole, and a body larger than this is a *DecodeError ("response larger
// than 32 MiB") rather than memory spent on a broken or hostile server.
// A page of GET /customer that large means page_size is too big.
const MaxSmallResponse = 32 << 20

// node is a generic decoded element: XML and JSON both become nodes, so the
// typed calls read one shape whatever the format.
type node struct {
	text string
	kids map[string][]*node
	keys []string // child names in order of first appearance
}

func (n *node) child(name string) *node {
	if n == nil {
		return nil
	}
	if k := n.kids[name]; len(k) > 0 {
		return k[0]
	}
	return nil
}

func (n *node) str(name string) string {
	if c := n.child(name); c != nil {
		return strings.TrimSpace(c.text)
	}
	return ""
}

func (n *node) add(name string, c *node) {
	if n.kids == nil {
		n.kids = map[string][]*node{}
	}
	if _, ok := n.kids[name]; !ok {
		n.keys = append(n.keys, name)
	}
	n.kids[name] = append(n.kids[name], c)
}

// list returns the elements of a plural container: <customers><customer>
// in XML, "customers": [...] or a single object in JSON, or the repeated
// siblings themselves when there is no wrapper.
func (n *node) list(plural, singular string) []*node {
	var out []*node
	for _, c := range n.kids[plural] {
		if inner, ok := c.kids[singular]; ok {
			out = append(out, inner...)
			continue
		}
		if c.kids != nil {
			out = append(out, c)
		}
	}
	return out
}

// decodeSmall reads a whole small response into a node tree.
func decodeSmall(format string, r io.Reader) (*node, envelope, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxSmallResponse+1))
	if err != nil {
		return nil, envelope{}, &DecodeError{Expected: "a complete body", Err: err}
	}
	if len(body) > MaxSmallResponse {
		return nil, envelope{}, (&DecodeError{Err: fmt.Errorf("response larger than %d MiB", MaxSmallResponse>>20)}).bodyGot(body, 80)
	}
	var root *node
	if format == "xml" {
		root, err = xmlTree(body)
	} else {
		root, err = jsonTree(body)
	}
	if err != nil {
		return nil, envelope{}, err
	}
	var env envelope
	if s := root.child("success"); s != nil {
		env.successSeen = true
		if env.success, err = parseFlag("success", s.text); err != nil {
			return nil, env, err
		}
	}
	env.info = root.str("info")
	if err := env.check("", 0, body); err != nil {
		return nil, env, err
	}
	return root, env, nil
}

func xmlTree(body []byte) (*node, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	var stack []*node
	var root *node
	for {
		t, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, (&DecodeError{Expected: "well-formed XML", Err: err}).bodyGot(body, 120)
		}
		switch t := t.(type) {
		case xml.StartElement:
			n := &node{}
			if len(stack) > 0 {
				stack[len(stack)-1].add(t.Name.Local, n)
			} else if root == nil {
				root = n
			}
			stack = append(stack, n)
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(t)
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, (&DecodeError{Expected: "an XML document with a root element"}).bodyGot(body, 120)
	}
	return root, nil
}

func jsonTree(body []byte) (*node, error) {
	d := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, (&DecodeError{Expected: "valid JSON", Err: err}).bodyGot(body, 120)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, (&DecodeError{Expected: "a JSON object"}).bodyGot(body, 120)
	}
	return jsonNode(v), nil
}

func jsonNode(v any) *node {
	switch v := v.(type) {
	case map[string]any:
		n := &node{kids: map[string][]*node{}}
		for k, c := range v {
			if arr, ok := c.([]any); ok {
				// A list becomes repeated children, as in XML.
				n.keys = append(n.keys, k)
				n.kids[k] = nil
				for _, e := range arr {
					n.kids[k] = append(n.kids[k], jsonNode(e))
				}
				continue
			}
			n.add(k, jsonNode(c))
		}
		return n
	case string:
		return &node{text: v}
	case json.Number:
		return &node{text: string(v)}
	case bool:
		if v {
			return &node{text: "1"}
		}
		return &node{text: "0"}
	}
	return &node{}
}
