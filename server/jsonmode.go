package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// jsonMachine is an incremental JSON recogniser used to constrain decoding
// (format:"json" or a schema, response_format json_object/json_schema): a
// token is allowed only if its bytes keep the output a prefix of one JSON
// object (valid against the schema, if any), and generation ends once the
// object is complete. Trying a token works on a copy.
type jsonMachine struct {
	frames []jframe
	next   *schemaNode // schema of the value about to start (nil: any)
	st     jstate
	isKey  bool
	hex    int
	lit    string
	ws     int
	done   bool

	key    []byte      // the object key being read
	strRaw []byte      // raw bytes of a string value with an enum
	strEnm *schemaNode // its schema
	enum   []byte      // raw bytes of a non-string enum value
	enumN  *schemaNode
	intOnl bool // the number being read must be an integer
}

// jframe is an open object or array.
type jframe struct {
	open byte
	node *schemaNode // the container's schema (nil: any)
	seen []string    // object keys already written
}

type jstate uint8

const (
	jsValue    jstate = iota // expecting a value
	jsRoot                   // expecting the root object
	jsObjFirst               // after '{': key or '}'
	jsObjKey                 // after ',': key
	jsColon                  // after a key
	jsArrFirst               // after '[': value or ']'
	jsAfter                  // after a value: ',' or a closer
	jsString                 // inside a string
	jsEscape                 // after '\'
	jsHex                    // inside \uXXXX
	jsLiteral                // inside true/false/null
	jsEnum                   // inside a non-string enum value
	jsNumMinus               // after '-'
	jsNumZero                // after a leading 0
	jsNumInt                 // integer digits
	jsNumDot                 // after '.'
	jsNumFrac                // fraction digits
	jsNumE                   // after 'e'
	jsNumESign               // after 'e+' / 'e-'
	jsNumExp                 // exponent digits
)

const maxJSONWhitespace = 16
const maxJSONDepth = 32

// schemaNode is the part of a JSON schema the constraint enforces: types,
// object properties (unknown keys are refused unless additionalProperties
// allows them; required keys must appear before the object closes), array
// items, enum/const. Other keywords (patterns, bounds, $ref, anyOf) are
// not enforced.
type schemaNode struct {
	types      map[string]bool // empty: any type
	props      map[string]*schemaNode
	required   []string
	additional bool
	items      *schemaNode
	enum       [][]byte // compact JSON encodings of the allowed values
}

// parseSchema reads the enforced subset of a JSON schema.
func parseSchema(raw json.RawMessage) (*schemaNode, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	return schemaFrom(v, 0)
}

func schemaFrom(v any, depth int) (*schemaNode, error) {
	if depth > maxJSONDepth {
		return nil, fmt.Errorf("schema nested deeper than %d", maxJSONDepth)
	}
	m, ok := v.(map[string]any)
	if !ok {
		if b, isBool := v.(bool); isBool && b {
			return nil, nil
		}
		return nil, fmt.Errorf("schema must be an object")
	}
	n := &schemaNode{types: map[string]bool{}, additional: true}
	switch t := m["type"].(type) {
	case string:
		n.types[t] = true
	case []any:
		for _, e := range t {
			if s, ok := e.(string); ok {
				n.types[s] = true
			}
		}
	}
	for t := range n.types {
		switch t {
		case "object", "array", "string", "number", "integer", "boolean", "null":
		default:
			return nil, fmt.Errorf("unknown type %q", t)
		}
	}
	if p, ok := m["properties"].(map[string]any); ok {
		n.props = map[string]*schemaNode{}
		for k, pv := range p {
			c, err := schemaFrom(pv, depth+1)
			if err != nil {
				return nil, fmt.Errorf("properties.%s: %w", k, err)
			}
			n.props[k] = c
		}
		// Generation-friendly default (OpenAI's strict mode): only the
		// listed keys unless additionalProperties says otherwise.
		n.additional = false
		if len(n.types) == 0 {
			n.types["object"] = true
		}
	}
	switch a := m["additionalProperties"].(type) {
	case bool:
		n.additional = a
	case map[string]any:
		n.additional = true
	}
	if r, ok := m["required"].([]any); ok {
		for _, e := range r {
			if s, ok := e.(string); ok {
				n.required = append(n.required, s)
			}
		}
	}
	if it, ok := m["items"]; ok {
		c, err := schemaFrom(it, depth+1)
		if err != nil {
			return nil, fmt.Errorf("items: %w", err)
		}
		n.items = c
	}
	vals, hasEnum := m["enum"].([]any)
	if c, ok := m["const"]; ok {
		vals, hasEnum = []any{c}, true
	}
	if hasEnum {
		if len(vals) == 0 {
			return nil, fmt.Errorf("empty enum")
		}
		for _, e := range vals {
			b, _ := json.Marshal(e)
			n.enum = append(n.enum, b)
		}
	}
	return n, nil
}

func (n *schemaNode) allows(t string) bool {
	if n == nil || len(n.types) == 0 {
		return true
	}
	if t == "number" && n.types["integer"] {
		return true
	}
	return n.types[t]
}

func newJSONMachine() *jsonMachine { return &jsonMachine{st: jsRoot} }

// newSchemaMachine constrains output to JSON valid against schema.
func newSchemaMachine(schema *schemaNode) *jsonMachine {
	return &jsonMachine{st: jsRoot, next: schema}
}

func (m *jsonMachine) clone() jsonMachine {
	c := *m
	c.frames = slices.Clone(m.frames)
	for i := range c.frames {
		c.frames[i].seen = slices.Clone(c.frames[i].seen)
	}
	c.key = slices.Clone(m.key)
	c.strRaw = slices.Clone(m.strRaw)
	c.enum = slices.Clone(m.enum)
	return c
}

func isWS(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

func (m *jsonMachine) top() *jframe {
	if len(m.frames) == 0 {
		return nil
	}
	return &m.frames[len(m.frames)-1]
}

// keyPrefixOK: the key read so far can still become an allowed, unseen key.
func (m *jsonMachine) keyPrefixOK(complete bool) bool {
	f := m.top()
	if f == nil || f.node == nil || f.node.additional {
		return !complete || !slices.Contains(f.seenOrNil(), string(m.key))
	}
	for k := range f.node.props {
		if slices.Contains(f.seen, k) {
			continue
		}
		if complete && k == string(m.key) || !complete && len(k) >= len(m.key) && k[:len(m.key)] == string(m.key) {
			return true
		}
	}
	return false
}

func (f *jframe) seenOrNil() []string {
	if f == nil {
		return nil
	}
	return f.seen
}

// moreKeysAllowed: another key may be added to the open object.
func (m *jsonMachine) moreKeysAllowed() bool {
	f := m.top()
	if f.node == nil || f.node.additional {
		return true
	}
	for k := range f.node.props {
		if !slices.Contains(f.seen, k) {
			return true
		}
	}
	return false
}

func (m *jsonMachine) requiredDone() bool {
	f := m.top()
	if f.node == nil {
		return true
	}
	for _, k := range f.node.required {
		if !slices.Contains(f.seen, k) {
			return false
		}
	}
	return true
}

// enumPrefix reports whether raw can still become one of the values, and
// whether it already is one.
func enumPrefix(vals [][]byte, raw []byte) (prefix, full bool) {
	for _, v := range vals {
		if bytes.HasPrefix(v, raw) {
			prefix = true
			if len(v) == len(raw) {
				full = true
			}
		}
	}
	return
}

// feed consumes one byte; false means the output would not be valid.
func (m *jsonMachine) feed(b byte) bool {
	if m.done {
		return false
	}
	switch m.st {
	case jsString:
		if m.isKey {
			if b == '"' {
				if !m.keyPrefixOK(true) {
					return false
				}
				f := m.top()
				f.seen = append(f.seen, string(m.key))
				m.next = nil
				if f.node != nil && f.node.props != nil {
					m.next = f.node.props[string(m.key)]
				}
				m.key = m.key[:0]
				m.st = jsColon
				return true
			}
			if b == '\\' || b < 0x20 {
				return false // escaped keys are not needed for schema keys
			}
			m.key = append(m.key, b)
			return m.keyPrefixOK(false)
		}
		if m.strEnm != nil {
			m.strRaw = append(m.strRaw, b)
			prefix, full := enumPrefix(m.strEnm.enum, m.strRaw)
			if !prefix {
				return false
			}
			if b == '"' && full && len(m.strRaw) > 1 && m.strRaw[len(m.strRaw)-2] != '\\' {
				m.strEnm = nil
				m.afterValue()
				return true
			}
			if b == '\\' {
				m.st = jsEscape
			}
			return b >= 0x20
		}
		switch {
		case b == '"':
			m.afterValue()
		case b == '\\':
			m.st = jsEscape
		case b < 0x20:
			return false
		}
		return true
	case jsEscape:
		if m.strEnm != nil {
			m.strRaw = append(m.strRaw, b)
			if p, _ := enumPrefix(m.strEnm.enum, m.strRaw); !p {
				return false
			}
		}
		switch b {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			m.st = jsString
		case 'u':
			m.st, m.hex = jsHex, 4
		default:
			return false
		}
		return true
	case jsHex:
		if m.strEnm != nil {
			m.strRaw = append(m.strRaw, b)
			if p, _ := enumPrefix(m.strEnm.enum, m.strRaw); !p {
				return false
			}
		}
		if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F') {
			return false
		}
		if m.hex--; m.hex == 0 {
			m.st = jsString
		}
		return true
	case jsLiteral:
		if m.lit == "" || b != m.lit[0] {
			return false
		}
		if m.lit = m.lit[1:]; m.lit == "" {
			m.afterValue()
		}
		return true
	case jsEnum:
		raw := append(m.enum, b)
		if p, _ := enumPrefix(m.enumN.enum, raw); p {
			m.enum = raw
			return true
		}
		// The byte ends the value if it is complete.
		if _, full := enumPrefix(m.enumN.enum, m.enum); !full {
			return false
		}
		m.enum, m.enumN = nil, nil
		m.afterValue()
		return m.feed(b)
	case jsNumMinus, jsNumZero, jsNumInt, jsNumDot, jsNumFrac, jsNumE, jsNumESign, jsNumExp:
		if m.number1(b) {
			return true
		}
		if m.st == jsNumMinus || m.st == jsNumDot || m.st == jsNumE || m.st == jsNumESign {
			return false
		}
		m.afterValue()
		return m.feed(b)
	}
	if isWS(b) {
		// Room for pretty-printing at this depth, no more: models left
		// free tend to emit whitespace forever.
		m.ws++
		return m.ws <= min(maxJSONWhitespace, 2+2*len(m.frames))
	}
	m.ws = 0
	switch m.st {
	case jsRoot:
		if b != '{' {
			return false
		}
		return m.value(b)
	case jsObjFirst, jsObjKey:
		if b == '"' && m.moreKeysAllowed() {
			m.st, m.isKey = jsString, true
			m.key = m.key[:0]
			return true
		}
		if b == '}' && m.st == jsObjFirst {
			return m.close('{')
		}
		return false
	case jsColon:
		if b != ':' {
			return false
		}
		m.st = jsValue
		return true
	case jsArrFirst:
		if b == ']' {
			return m.close('[')
		}
		return m.value(b)
	case jsValue:
		return m.value(b)
	case jsAfter:
		f := m.top()
		if f == nil {
			return false
		}
		switch {
		case b == ',' && f.open == '{':
			if !m.moreKeysAllowed() {
				return false
			}
			m.st = jsObjKey
		case b == ',' && f.open == '[':
			m.next = nil
			if f.node != nil {
				m.next = f.node.items
			}
			m.st = jsValue
		case b == '}' || b == ']':
			return m.close(map[byte]byte{'}': '{', ']': '['}[b])
		default:
			return false
		}
		return true
	}
	return false
}

func (m *jsonMachine) number1(b byte) bool {
	digit := b >= '0' && b <= '9'
	switch m.st {
	case jsNumMinus:
		if b == '0' {
			m.st = jsNumZero
		} else if digit {
			m.st = jsNumInt
		} else {
			return false
		}
	case jsNumZero, jsNumInt:
		switch {
		case digit && m.st == jsNumInt:
		case b == '.' && !m.intOnl:
			m.st = jsNumDot
		case (b == 'e' || b == 'E') && !m.intOnl:
			m.st = jsNumE
		default:
			return false
		}
	case jsNumDot, jsNumFrac:
		switch {
		case digit:
			m.st = jsNumFrac
		case (b == 'e' || b == 'E') && m.st == jsNumFrac:
			m.st = jsNumE
		default:
			return false
		}
	case jsNumE:
		switch {
		case b == '+' || b == '-':
			m.st = jsNumESign
		case digit:
			m.st = jsNumExp
		default:
			return false
		}
	case jsNumESign, jsNumExp:
		if !digit {
			return false
		}
		m.st = jsNumExp
	}
	return true
}

// value starts a value with first byte b under the schema m.next.
func (m *jsonMachine) value(b byte) bool {
	n := m.next
	m.next = nil
	if n != nil && n.enum != nil {
		if b == '"' {
			if p, _ := enumPrefix(n.enum, []byte{'"'}); !p {
				return false
			}
			m.st, m.isKey, m.strEnm, m.strRaw = jsString, false, n, []byte{'"'}
			return true
		}
		if p, _ := enumPrefix(n.enum, []byte{b}); !p {
			return false
		}
		m.st, m.enumN, m.enum = jsEnum, n, []byte{b}
		if _, full := enumPrefix(n.enum, m.enum); full && len(m.frames) == 0 {
			m.afterValue()
		}
		return true
	}
	switch {
	case b == '{' || b == '[':
		if len(m.frames) >= maxJSONDepth {
			return false
		}
		if !n.allows(map[byte]string{'{': "object", '[': "array"}[b]) {
			return false
		}
		m.frames = append(m.frames, jframe{open: b, node: n})
		if b == '{' {
			m.st = jsObjFirst
		} else {
			m.st = jsArrFirst
			if n != nil {
				m.next = n.items
			}
		}
	case b == '"':
		if !n.allows("string") {
			return false
		}
		m.st, m.isKey = jsString, false
	case b == '-' || b >= '0' && b <= '9':
		if !n.allows("number") {
			return false
		}
		m.intOnl = n != nil && n.types["integer"] && !n.types["number"]
		switch {
		case b == '-':
			m.st = jsNumMinus
		case b == '0':
			m.st = jsNumZero
		default:
			m.st = jsNumInt
		}
	case b == 't' || b == 'f':
		if !n.allows("boolean") {
			return false
		}
		m.st, m.lit = jsLiteral, map[byte]string{'t': "rue", 'f': "alse"}[b]
	case b == 'n':
		if !n.allows("null") {
			return false
		}
		m.st, m.lit = jsLiteral, "ull"
	default:
		return false
	}
	return true
}

func (m *jsonMachine) afterValue() { m.st = jsAfter }

func (m *jsonMachine) close(open byte) bool {
	f := m.top()
	if f == nil || f.open != open {
		return false
	}
	if open == '{' && !m.requiredDone() {
		return false
	}
	m.frames = m.frames[:len(m.frames)-1]
	m.st = jsAfter
	if len(m.frames) == 0 {
		m.done = true
	}
	return true
}

// accepts reports whether appending b keeps the output valid, without
// changing m.
func (m *jsonMachine) accepts(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	c := m.clone()
	for _, x := range b {
		if !c.feed(x) {
			return false
		}
	}
	return true
}

// advance appends b (which accepts approved).
func (m *jsonMachine) advance(b []byte) {
	for _, x := range b {
		m.feed(x)
	}
}
