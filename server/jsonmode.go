package server

// jsonMachine is an incremental JSON recogniser used to constrain decoding
// (format:"json", response_format json_object/json_schema): a token is
// allowed only if its bytes keep the output a prefix of one JSON object,
// and generation may end only once the object is complete. It is a value
// type apart from its stack, so trying a token is a cheap copy.
type jsonMachine struct {
	stack  []byte // open containers: '{' or '['
	st     jstate
	isKey  bool // the string being read is an object key
	hex    int  // \uXXXX digits still expected
	lit    string
	ws     int // consecutive whitespace bytes (bounded, so a model cannot loop on newlines)
	done   bool
	number bool // a number is being read (it ends at the next non-number byte)
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

func newJSONMachine() *jsonMachine { return &jsonMachine{st: jsRoot} }

func (m *jsonMachine) clone() jsonMachine {
	c := *m
	c.stack = append([]byte(nil), m.stack...)
	return c
}

func isWS(b byte) bool { return b == ' ' || b == '\n' || b == '\t' || b == '\r' }

// feed consumes one byte; false means the output would not be JSON.
func (m *jsonMachine) feed(b byte) bool {
	if m.done {
		return false
	}
	switch m.st {
	case jsString:
		switch {
		case b == '"':
			if m.isKey {
				m.st = jsColon
			} else {
				m.afterValue()
			}
		case b == '\\':
			m.st = jsEscape
		case b < 0x20:
			return false
		}
		return true
	case jsEscape:
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
	case jsNumMinus, jsNumZero, jsNumInt, jsNumDot, jsNumFrac, jsNumE, jsNumESign, jsNumExp:
		if m.number1(b) {
			return true
		}
		// The byte ends the number, if the number is complete here.
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
		return m.ws <= min(maxJSONWhitespace, 2+2*len(m.stack))
	}
	m.ws = 0
	switch m.st {
	case jsRoot:
		if b != '{' {
			return false
		}
		m.stack = append(m.stack, '{')
		m.st = jsObjFirst
		return true
	case jsObjFirst, jsObjKey:
		if b == '"' {
			m.st, m.isKey = jsString, true
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
		if len(m.stack) == 0 {
			return false
		}
		top := m.stack[len(m.stack)-1]
		switch {
		case b == ',' && top == '{':
			m.st = jsObjKey
		case b == ',' && top == '[':
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
		case b == '.':
			m.st = jsNumDot
		case b == 'e' || b == 'E':
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

func (m *jsonMachine) value(b byte) bool {
	switch {
	case b == '{' || b == '[':
		if len(m.stack) >= maxJSONDepth {
			return false
		}
		m.stack = append(m.stack, b)
		if b == '{' {
			m.st = jsObjFirst
		} else {
			m.st = jsArrFirst
		}
	case b == '"':
		m.st, m.isKey = jsString, false
	case b == '-':
		m.st = jsNumMinus
	case b == '0':
		m.st = jsNumZero
	case b >= '1' && b <= '9':
		m.st = jsNumInt
	case b == 't':
		m.st, m.lit = jsLiteral, "rue"
	case b == 'f':
		m.st, m.lit = jsLiteral, "alse"
	case b == 'n':
		m.st, m.lit = jsLiteral, "ull"
	default:
		return false
	}
	return true
}

func (m *jsonMachine) afterValue() { m.st = jsAfter }

func (m *jsonMachine) close(open byte) bool {
	if len(m.stack) == 0 || m.stack[len(m.stack)-1] != open {
		return false
	}
	m.stack = m.stack[:len(m.stack)-1]
	m.st = jsAfter
	if len(m.stack) == 0 {
		m.done = true
	}
	return true
}

// accepts reports whether appending b keeps the output valid JSON, without
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
