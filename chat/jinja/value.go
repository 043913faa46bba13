package jinja

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Values inside the evaluator are plain Go values chosen to mirror Python's
// types, because chat templates depend on Python semantics (truthiness,
// int/float printing, repr):
//
//	nil        None
//	Undefined  jinja2.Undefined
//	bool       bool
//	int64      int
//	float64    float
//	string     str
//	*List      list (or tuple when Tuple is set)
//	*Dict      dict (insertion-ordered)
//	*Namespace jinja2's namespace()
//	callable   macros, builtins, bound methods
type Value = any

// Undefined is the value of a missing variable, key or attribute. Like
// jinja2's default Undefined it prints as "", is falsy and iterates as
// empty, but fails on attribute access, arithmetic and calls.
type Undefined struct {
	Hint string // the UndefinedError message for operations that fail
	Exc  string // exception class raised on use; "" means UndefinedError
}

// List is a Python list or tuple. With Iter set it stands for one of
// Python's other iterables, which templates can tell apart: "generator" and
// "list_reverseiterator" (what jinja2's map/select/unique/... filters
// return: always truthy, no len(), consumed by one pass), the dict views
// "dict_keys", "dict_values", "dict_items", and "range".
type List struct {
	Items []Value
	Tuple bool
	Iter  string

	consumed bool
	group    bool     // a groupby result: also answers .grouper and .list
	err      error    // a generator's deferred error, raised when it is consumed
	rng      [3]int64 // start, stop, step of a range, for repr
}

// isIterator reports a single-use iterator (generator, reversed()).
func (l *List) isIterator() bool {
	return l.Iter == "generator" || l.Iter == "list_reverseiterator" || l.Iter == "dict_reversekeyiterator"
}

// plain reports an ordinary list or tuple.
func (l *List) plain() bool { return l.Iter == "" }

// gen wraps computed items as a generator; a non-nil err is raised only if
// the generator is consumed, as Python's lazy generators do.
func gen(items []Value, err error) *List {
	if err != nil {
		return &List{Iter: "generator", err: err}
	}
	return &List{Items: items, Iter: "generator"}
}

// Dict is an insertion-ordered Python dict.
type Dict struct {
	keys  []Value
	vals  []Value
	index map[dictKey]int
}

// Namespace is the mutable object returned by namespace().
type Namespace struct{ D *Dict }

// callable is anything callable from a template.
type callable interface {
	call(r *renderer, args []Value, kw *Dict) (Value, error)
	name() string
}

// dictKey makes Python's equal keys (1, 1.0, True) hash alike.
type dictKey struct {
	kind byte
	s    string
	n    float64
}

func keyOf(v Value) (dictKey, error) {
	switch x := v.(type) {
	case string:
		return dictKey{kind: 's', s: x}, nil
	case bool:
		if x {
			return dictKey{kind: 'n', n: 1}, nil
		}
		return dictKey{kind: 'n', n: 0}, nil
	case int64:
		return dictKey{kind: 'n', n: float64(x)}, nil
	case float64:
		return dictKey{kind: 'n', n: x}, nil
	case nil:
		return dictKey{kind: 'z'}, nil
	case Undefined:
		return dictKey{kind: 'u'}, nil
	case *List:
		if x.Tuple && x.plain() {
			return dictKey{kind: 't', s: repr(x)}, nil
		}
	}
	return dictKey{}, &Error{Kind: "TypeError", Msg: fmt.Sprintf("unhashable type: '%s'", typeName(v))}
}

// NewDict returns an empty dict.
func NewDict() *Dict { return &Dict{index: map[dictKey]int{}} }

// Len is the number of entries.
func (d *Dict) Len() int { return len(d.keys) }

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []Value { return d.keys }

// Set inserts or replaces a key, keeping its first insertion position.
func (d *Dict) Set(k, v Value) error {
	dk, err := keyOf(k)
	if err != nil {
		return err
	}
	if i, ok := d.index[dk]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[dk] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// SetStr is Set for string keys, which cannot fail.
func (d *Dict) SetStr(k string, v Value) { _ = d.Set(k, v) }

// Get looks a key up.
func (d *Dict) Get(k Value) (Value, bool) {
	dk, err := keyOf(k)
	if err != nil {
		return nil, false
	}
	i, ok := d.index[dk]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

func (d *Dict) copy() *Dict {
	n := &Dict{keys: append([]Value(nil), d.keys...), vals: append([]Value(nil), d.vals...), index: make(map[dictKey]int, len(d.index))}
	for k, v := range d.index {
		n.index[k] = v
	}
	return n
}

// FromJSON decodes JSON into template values, keeping object key order the
// way Python's json module does (templates iterate dicts in order).
func FromJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	v, err := decodeJSON(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("json: trailing data after value")
	}
	return v, nil
}

func decodeJSON(dec *json.Decoder, depth int) (Value, error) {
	if depth > 500 {
		return nil, fmt.Errorf("json: nesting deeper than 500")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '[':
			l := &List{}
			for dec.More() {
				v, err := decodeJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l.Items = append(l.Items, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return l, nil
		case '{':
			d := NewDict()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeJSON(dec, depth+1)
				if err != nil {
					return nil, err
				}
				d.SetStr(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return d, nil
		}
		return nil, fmt.Errorf("json: unexpected %v", t)
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("json: bad number %s", s)
		}
		return f, nil
	case string, bool, nil:
		return t, nil
	}
	return nil, fmt.Errorf("json: unexpected token %v", tok)
}

// FromGo converts ordinary Go values (maps, slices, structs via their JSON
// encoding, numbers) into template values. Go maps have no order, so their
// keys are sorted; pass a *Dict or JSON to control order.
func FromGo(v any) (Value, error) {
	switch x := v.(type) {
	case nil, bool, int64, float64, string, *List, *Dict, *Namespace, Undefined:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float32:
		return float64(x), nil
	case json.RawMessage:
		return FromJSON(x)
	case []any:
		l := &List{Items: make([]Value, len(x))}
		for i, e := range x {
			c, err := FromGo(e)
			if err != nil {
				return nil, err
			}
			l.Items[i] = c
		}
		return l, nil
	case []string:
		l := &List{Items: make([]Value, len(x))}
		for i, e := range x {
			l.Items[i] = e
		}
		return l, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		d := NewDict()
		for _, k := range keys {
			c, err := FromGo(x[k])
			if err != nil {
				return nil, err
			}
			d.SetStr(k, c)
		}
		return d, nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return int64(rv.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return rv.Float(), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return FromJSON(b)
}

// typeName is Python's type(v).__name__.
func typeName(v Value) string {
	switch x := v.(type) {
	case nil:
		return "NoneType"
	case Undefined:
		return "Undefined"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case *List:
		if x.Iter != "" {
			return x.Iter
		}
		if x.Tuple {
			return "tuple"
		}
		return "list"
	case *Dict:
		return "dict"
	case *Namespace:
		return "Namespace"
	case *loopObj:
		return "LoopContext"
	case *macro:
		return "Macro"
	case callable:
		return "builtin_function_or_method"
	}
	return fmt.Sprintf("%T", v)
}

// truthy is Python's bool(v).
func truthy(v Value) bool {
	switch x := v.(type) {
	case nil, Undefined:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case *List:
		if x.isIterator() {
			return true
		}
		return len(x.Items) > 0
	case *Dict:
		return x.Len() > 0
	}
	return true
}

// str is Python's str(v) as jinja2 prints it.
func str(v Value) string {
	switch x := v.(type) {
	case string:
		return x
	case Undefined:
		return ""
	}
	return repr(v)
}

// repr is Python's repr(v).
func repr(v Value) string {
	var b strings.Builder
	w := reprWriter{b: &b, onPath: map[any]bool{}}
	w.write(v)
	return b.String()
}

// maxRepr bounds repr output: values can share sub-lists, so a small
// template can build a value whose text is exponentially long.
const maxRepr = 16 << 20

type reprWriter struct {
	b      *strings.Builder
	onPath map[any]bool // containers being printed, to print cycles as Python does
}

func (w *reprWriter) write(v Value) {
	b := w.b
	if b.Len() > maxRepr {
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case Undefined:
		b.WriteString("Undefined")
	case bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(formatFloat(x))
	case string:
		b.WriteString(reprString(x))
	case *List:
		open, close := "[", "]"
		switch {
		case x.isIterator():
			b.WriteString("<" + x.Iter + " object>")
			return
		case x.Iter == "range":
			if x.rng[2] == 1 {
				fmt.Fprintf(b, "range(%d, %d)", x.rng[0], x.rng[1])
			} else {
				fmt.Fprintf(b, "range(%d, %d, %d)", x.rng[0], x.rng[1], x.rng[2])
			}
			return
		case x.Iter == "dict_items" || x.Iter == "dict_keys" || x.Iter == "dict_values":
			open, close = x.Iter+"([", "])"
		case x.Tuple:
			open, close = "(", ")"
		}
		if w.onPath[x] {
			b.WriteString(open + "..." + close)
			return
		}
		w.onPath[x] = true
		b.WriteString(open)
		for i, e := range x.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			w.write(e)
		}
		if x.Tuple && len(x.Items) == 1 {
			b.WriteString(",")
		}
		b.WriteString(close)
		delete(w.onPath, x)
	case *Dict:
		if w.onPath[x] {
			b.WriteString("{...}")
			return
		}
		w.onPath[x] = true
		b.WriteString("{")
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(", ")
			}
			w.write(k)
			b.WriteString(": ")
			w.write(x.vals[i])
		}
		b.WriteString("}")
		delete(w.onPath, x)
	case *Namespace:
		if w.onPath[x] {
			b.WriteString("<Namespace ...>")
			return
		}
		w.onPath[x] = true
		b.WriteString("<Namespace ")
		w.write(x.D)
		b.WriteString(">")
		delete(w.onPath, x)
	case *macro:
		b.WriteString("<Macro '" + x.decl.name + "'>")
	case callable:
		b.WriteString("<built-in method " + x.name() + ">")
	case *loopObj:
		b.WriteString("<LoopContext>")
	default:
		fmt.Fprint(b, x)
	}
}

// formatFloat is Python's float repr: shortest round-trip digits, with an
// exponent below 1e-4 and from 1e16 up, and always a ".0" on integral values.
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	abs := math.Abs(f)
	if abs >= 1e16 || abs < 1e-4 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes 1e+16 and 1.5e-05 exactly as Python does, but Python
		// pads the exponent to two digits, as does Go: keep as is.
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// reprString is Python's repr of a str: single quotes unless the text has a
// single quote and no double quote.
func reprString(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(q):
			b.WriteByte('\\')
			b.WriteByte(q)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i-1])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// equal is Python's ==.
func equal(a, b Value) bool {
	budget := maxEqualSteps
	return eq(a, b, &budget)
}

// maxEqualSteps bounds one comparison of (possibly shared, exponentially
// large) nested values; past it values compare unequal.
const maxEqualSteps = 1 << 22

func eq(a, b Value, budget *int) bool {
	*budget--
	if *budget < 0 {
		return false
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case Undefined:
		_, ok := b.(Undefined)
		return ok
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool, int64, float64:
		fa, ok1 := toNum(a)
		fb, ok2 := toNum(b)
		if !ok1 || !ok2 {
			return false
		}
		ia, aInt := asInt(a)
		ib, bInt := asInt(b)
		if aInt && bInt {
			return ia == ib
		}
		return fa == fb
	case *List:
		y, ok := b.(*List)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		if x.Tuple != y.Tuple || x.Iter != y.Iter || x.isIterator() || len(x.Items) != len(y.Items) {
			return false
		}
		for i := range x.Items {
			if !eq(x.Items[i], y.Items[i], budget) {
				return false
			}
		}
		return true
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		if x == y {
			return true
		}
		for i, k := range x.keys {
			v, ok := y.Get(k)
			if !ok || !eq(x.vals[i], v, budget) {
				return false
			}
		}
		return true
	}
	return a == b
}

// toNum converts bool/int/float to float64.
func toNum(v Value) (float64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// asInt converts bool/int to int64.
func asInt(v Value) (int64, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return x, true
	}
	return 0, false
}
