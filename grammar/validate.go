package grammar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Validate parses data as one JSON value and checks it against the
// grammar's schema (JSON Schema semantics for the supported keywords:
// extra object keys are allowed unless additionalProperties is false, and
// oneOf requires exactly one match). It returns nil when data is valid.
func (g *Grammar) Validate(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("grammar: output is not JSON: %w", err)
	}
	if dec.More() {
		return fmt.Errorf("grammar: output has data after the JSON value")
	}
	return validate(g.root.value, v, "$")
}

func validate(n *node, v any, path string) error {
	switch n.kind {
	case kAnyOf:
		matches := 0
		var first error
		for _, a := range n.alts {
			if err := validate(a, v, path); err == nil {
				matches++
			} else if first == nil {
				first = err
			}
		}
		if n.oneOf && matches > 1 {
			return fmt.Errorf("%s: matches %d oneOf alternatives", path, matches)
		}
		if matches == 0 {
			if len(n.alts) == 1 {
				return first
			}
			return fmt.Errorf("%s: matches no alternative (first: %v)", path, first)
		}
		return nil
	case kLiteral:
		for _, x := range n.values {
			if jsonEqual(x, v) {
				return nil
			}
		}
		return fmt.Errorf("%s: value is not one of the allowed values", path)
	case kString:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string", path)
		}
		l := int32(utf8.RuneCountInString(s))
		if l < n.minLen || l > n.maxLen {
			return fmt.Errorf("%s: string length %d outside [%d, %d]", path, l, n.minLen, n.maxLen)
		}
		if n.pat != nil && !n.pat.re.MatchString(s) {
			return fmt.Errorf("%s: string does not match pattern %s", path, n.pat.re)
		}
		return nil
	case kNumber:
		num, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want a number", path)
		}
		r, ok := parseRat(string(num))
		if !ok {
			return fmt.Errorf("%s: bad number %s", path, num)
		}
		if n.integer && !r.IsInt() {
			return fmt.Errorf("%s: %s is not an integer", path, num)
		}
		if n.bounds != nil && !n.bounds.contains(r) {
			return fmt.Errorf("%s: %s is out of range", path, num)
		}
		return nil
	case kArray:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array", path)
		}
		if int64(len(list)) < int64(n.minItems) || int64(len(list)) > int64(n.maxItems) {
			return fmt.Errorf("%s: %d items outside [%d, %d]", path, len(list), n.minItems, n.maxItems)
		}
		for i, x := range list {
			if err := validate(n.items, x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case kObject:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object", path)
		}
		for _, p := range n.props {
			x, ok := m[p.name]
			if !ok {
				if p.required {
					return fmt.Errorf("%s: missing required property %q", path, p.name)
				}
				continue
			}
			if err := validate(p.n, x, path+"."+p.name); err != nil {
				return err
			}
		}
		for k, x := range m {
			known := false
			for _, p := range n.props {
				if p.name == k {
					known = true
					break
				}
			}
			if known {
				continue
			}
			if !n.extraOK {
				return fmt.Errorf("%s: property %q is not allowed", path, k)
			}
			if n.extraNode != nil {
				if err := validate(n.extraNode, x, path+"."+k); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return fmt.Errorf("%s: internal: unexpected schema node", path)
}

// jsonEqual compares two JSON values (from parseOrdered or encoding/json
// with UseNumber); numbers compare by value.
func jsonEqual(a, b any) bool {
	if o, ok := a.(*omap); ok {
		a = plain(o)
	}
	if o, ok := b.(*omap); ok {
		b = plain(o)
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, ok1 := parseRat(string(x))
		ry, ok2 := parseRat(string(y))
		return ok1 && ok2 && rx.Cmp(ry) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	}
	return false
}
