package pytorch

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// The pickle machine below implements only what torch.save writes (pickle
// protocol 2 by default, 4 and 5 when asked): containers, scalars, strings,
// memo access, persistent ids for storages, and calls to a short allow-list
// of globals, each interpreted here rather than looked up. Any other opcode
// or global is an error: nothing in a checkpoint can make ferry run code.

// Pickle opcodes, named as in CPython's pickle.py.
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinFloat       = 'G'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opSetItems       = 'u'
	opEmptyDict      = '}'
	opEmptyTuple     = ')'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// Pickle values. Tuples are []any; the rest are the types below or
// nil, bool, int64, float64, string and []byte.
type (
	mark   struct{}
	global struct{ module, name string }
	pyList struct{ items []any }
	pyDict struct {
		keys []any
		vals []any
	}
	storage struct {
		dtype    DType
		key      string
		location string
		numel    int64
	}
)

// allowedGlobals lists every global a checkpoint may name.
var allowedGlobals = map[string]bool{
	"collections.OrderedDict":                    true,
	"torch._utils._rebuild_tensor_v2":            true,
	"torch._utils._rebuild_parameter":            true,
	"torch._utils._rebuild_parameter_with_state": true,
	"torch.FloatStorage":                         true,
	"torch.DoubleStorage":                        true,
	"torch.HalfStorage":                          true,
	"torch.BFloat16Storage":                      true,
	"torch.LongStorage":                          true,
	"torch.IntStorage":                           true,
	"torch.ShortStorage":                         true,
	"torch.CharStorage":                          true,
	"torch.ByteStorage":                          true,
	"torch.BoolStorage":                          true,
	"torch.Float8_e4m3fnStorage":                 true,
	"torch.Float8_e5m2Storage":                   true,
}

// storageTypes maps a storage class to its element type.
var storageTypes = map[string]DType{
	"FloatStorage": F32, "DoubleStorage": F64, "HalfStorage": F16, "BFloat16Storage": BF16,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": Bool, "Float8_e4m3fnStorage": F8E4M3, "Float8_e5m2Storage": F8E5M2,
}

// Limits keeping hostile pickles cheap.
const (
	maxStack     = 1 << 20
	maxMemo      = 1 << 20
	maxRank      = 16
	maxNesting   = 64
	maxPickleStr = 1 << 28
)

type machine struct {
	b      []byte
	off    int
	stack  []any
	marks  []int
	memo   map[uint32]any
	tensor func(st *storage, offset int64, shape, stride []int64) (*Tensor, error)
}

func (m *machine) errf(format string, a ...any) error {
	return fmt.Errorf("pickle at byte %d: %s", m.off, fmt.Sprintf(format, a...))
}

func (m *machine) take(n int) ([]byte, error) {
	if n < 0 || n > len(m.b)-m.off {
		return nil, m.errf("truncated: need %d bytes, %d left", n, len(m.b)-m.off)
	}
	s := m.b[m.off : m.off+n]
	m.off += n
	return s, nil
}

func (m *machine) push(v any) error {
	if len(m.stack) >= maxStack {
		return m.errf("stack deeper than %d", maxStack)
	}
	m.stack = append(m.stack, v)
	return nil
}

func (m *machine) pop() (any, error) {
	if len(m.stack) == 0 || (len(m.marks) > 0 && len(m.stack) <= m.marks[len(m.marks)-1]) {
		return nil, m.errf("stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v, nil
}

func (m *machine) top() (any, error) {
	if len(m.stack) == 0 || (len(m.marks) > 0 && len(m.stack) <= m.marks[len(m.marks)-1]) {
		return nil, m.errf("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

// popMark returns the items pushed since the last MARK.
func (m *machine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, m.errf("no MARK on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := append([]any(nil), m.stack[k:]...)
	m.stack = m.stack[:k]
	return items, nil
}

func (m *machine) str(n int) (string, error) {
	if n > maxPickleStr {
		return "", m.errf("string of %d bytes", n)
	}
	b, err := m.take(n)
	return string(b), err
}

func (m *machine) u32() (uint32, error) {
	b, err := m.take(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

// run executes the pickle and returns the object STOP leaves.
func (m *machine) run() (any, error) {
	m.memo = map[uint32]any{}
	for {
		if m.off >= len(m.b) {
			return nil, m.errf("truncated: no STOP opcode")
		}
		op := m.b[m.off]
		m.off++
		var err error
		switch op {
		case opProto:
			var b []byte
			if b, err = m.take(1); err == nil && b[0] > 5 {
				err = m.errf("pickle protocol %d", b[0])
			}
		case opFrame:
			_, err = m.take(8) // frames only group opcodes; ignore the length
		case opStop:
			v, err := m.pop()
			if err != nil {
				return nil, err
			}
			return v, nil
		case opMark:
			m.marks = append(m.marks, len(m.stack))
			if len(m.marks) > maxStack {
				err = m.errf("too many MARKs")
			}
		case opPop:
			_, err = m.pop()
		case opPopMark:
			_, err = m.popMark()
		case opDup:
			var v any
			if v, err = m.top(); err == nil {
				err = m.push(v)
			}
		case opNone:
			err = m.push(nil)
		case opNewTrue:
			err = m.push(true)
		case opNewFalse:
			err = m.push(false)
		case opBinInt:
			var v uint32
			if v, err = m.u32(); err == nil {
				err = m.push(int64(int32(v)))
			}
		case opBinInt1:
			var b []byte
			if b, err = m.take(1); err == nil {
				err = m.push(int64(b[0]))
			}
		case opBinInt2:
			var b []byte
			if b, err = m.take(2); err == nil {
				err = m.push(int64(binary.LittleEndian.Uint16(b)))
			}
		case opLong1:
			var b []byte
			if b, err = m.take(1); err != nil {
				break
			}
			n := int(b[0])
			if n > 8 {
				err = m.errf("integer of %d bytes", n)
				break
			}
			if b, err = m.take(n); err != nil {
				break
			}
			var v int64
			for i := n - 1; i >= 0; i-- {
				v = v<<8 | int64(b[i])
			}
			if n > 0 && n < 8 && b[n-1]&0x80 != 0 { // sign-extend
				v -= 1 << (8 * n)
			}
			err = m.push(v)
		case opBinFloat:
			var b []byte
			if b, err = m.take(8); err == nil {
				err = m.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
			}
		case opBinUnicode, opBinString, opBinBytes:
			var n uint32
			if n, err = m.u32(); err != nil {
				break
			}
			var s string
			if s, err = m.str(int(n)); err == nil {
				if op == opBinBytes {
					err = m.push([]byte(s))
				} else {
					err = m.push(s)
				}
			}
		case opShortBinUni, opShortBinString, opShortBinBytes:
			var b []byte
			if b, err = m.take(1); err != nil {
				break
			}
			var s string
			if s, err = m.str(int(b[0])); err == nil {
				if op == opShortBinBytes {
					err = m.push([]byte(s))
				} else {
					err = m.push(s)
				}
			}
		case opBinUnicode8, opBinBytes8:
			var b []byte
			if b, err = m.take(8); err != nil {
				break
			}
			n := binary.LittleEndian.Uint64(b)
			if n > maxPickleStr {
				err = m.errf("string of %d bytes", n)
				break
			}
			var s string
			if s, err = m.str(int(n)); err == nil {
				if op == opBinBytes8 {
					err = m.push([]byte(s))
				} else {
					err = m.push(s)
				}
			}
		case opEmptyTuple:
			err = m.push([]any{})
		case opEmptyList:
			err = m.push(&pyList{})
		case opEmptyDict:
			err = m.push(&pyDict{})
		case opTuple:
			var items []any
			if items, err = m.popMark(); err == nil {
				err = m.push(items)
			}
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			items := make([]any, n)
			for i := n - 1; i >= 0 && err == nil; i-- {
				items[i], err = m.pop()
			}
			if err == nil {
				err = m.push(items)
			}
		case opAppend:
			var v, l any
			if v, err = m.pop(); err != nil {
				break
			}
			if l, err = m.top(); err != nil {
				break
			}
			lst, ok := l.(*pyList)
			if !ok {
				err = m.errf("APPEND to a %s", typeName(l))
				break
			}
			lst.items = append(lst.items, v)
		case opAppends:
			var items []any
			if items, err = m.popMark(); err != nil {
				break
			}
			var l any
			if l, err = m.top(); err != nil {
				break
			}
			lst, ok := l.(*pyList)
			if !ok {
				err = m.errf("APPENDS to a %s", typeName(l))
				break
			}
			lst.items = append(lst.items, items...)
		case opSetItem, opSetItems:
			var items []any
			if op == opSetItems {
				items, err = m.popMark()
			} else {
				items = make([]any, 2)
				if items[1], err = m.pop(); err == nil {
					items[0], err = m.pop()
				}
			}
			if err != nil {
				break
			}
			if len(items)%2 != 0 {
				err = m.errf("SETITEMS with an odd number of items")
				break
			}
			var d any
			if d, err = m.top(); err != nil {
				break
			}
			dict, ok := d.(*pyDict)
			if !ok {
				err = m.errf("SETITEM on a %s", typeName(d))
				break
			}
			for i := 0; i < len(items); i += 2 {
				dict.keys = append(dict.keys, items[i])
				dict.vals = append(dict.vals, items[i+1])
			}
		case opBinPut, opLongBinPut, opMemoize:
			var id uint32
			switch op {
			case opBinPut:
				var b []byte
				b, err = m.take(1)
				if err == nil {
					id = uint32(b[0])
				}
			case opLongBinPut:
				id, err = m.u32()
			default:
				id = uint32(len(m.memo))
			}
			if err != nil {
				break
			}
			var v any
			if v, err = m.top(); err != nil {
				break
			}
			if _, exists := m.memo[id]; !exists && len(m.memo) >= maxMemo {
				err = m.errf("memo larger than %d", maxMemo)
				break
			}
			m.memo[id] = v
		case opBinGet, opLongBinGet:
			var id uint32
			if op == opBinGet {
				var b []byte
				b, err = m.take(1)
				if err == nil {
					id = uint32(b[0])
				}
			} else {
				id, err = m.u32()
			}
			if err != nil {
				break
			}
			v, ok := m.memo[id]
			if !ok {
				err = m.errf("memo key %d not set", id)
				break
			}
			err = m.push(v)
		case opGlobal:
			var mod, name string
			if mod, err = m.line(); err != nil {
				break
			}
			if name, err = m.line(); err != nil {
				break
			}
			err = m.global(mod, name)
		case opStackGlobal:
			var n, mod any
			if n, err = m.pop(); err != nil {
				break
			}
			if mod, err = m.pop(); err != nil {
				break
			}
			ms, ok1 := mod.(string)
			ns, ok2 := n.(string)
			if !ok1 || !ok2 {
				err = m.errf("STACK_GLOBAL needs two strings")
				break
			}
			err = m.global(ms, ns)
		case opBinPersID:
			var pid any
			if pid, err = m.pop(); err != nil {
				break
			}
			var st *storage
			if st, err = m.persistent(pid); err == nil {
				err = m.push(st)
			}
		case opReduce:
			var args, fn any
			if args, err = m.pop(); err != nil {
				break
			}
			if fn, err = m.pop(); err != nil {
				break
			}
			var v any
			if v, err = m.call(fn, args); err == nil {
				err = m.push(v)
			}
		case opBuild:
			var obj any
			if _, err = m.pop(); err != nil { // the state: __dict__ of an OrderedDict (its _metadata) or a parameter's
				break
			}
			if obj, err = m.top(); err != nil {
				break
			}
			switch obj.(type) {
			case *pyDict, *Tensor:
			default:
				err = m.errf("BUILD on a %s", typeName(obj))
			}
		default:
			err = m.errf("opcode 0x%02x (%q) is not used by torch.save and is not allowed", op, rune(op))
		}
		if err != nil {
			return nil, err
		}
	}
}

// line reads a newline-terminated text argument (GLOBAL's module and name).
func (m *machine) line() (string, error) {
	end := -1
	for i := m.off; i < len(m.b) && i < m.off+256; i++ {
		if m.b[i] == '\n' {
			end = i
			break
		}
	}
	if end < 0 {
		return "", m.errf("GLOBAL argument without a newline")
	}
	s := string(m.b[m.off:end])
	m.off = end + 1
	return s, nil
}

func (m *machine) global(mod, name string) error {
	full := mod + "." + name
	if !allowedGlobals[full] {
		return m.errf("global %s is not allowed (ferry only rebuilds tensors and dicts; a checkpoint naming it may run code in Python)", printable(full))
	}
	return m.push(global{mod, name})
}

func (m *machine) persistent(pid any) (*storage, error) {
	t, ok := pid.([]any)
	if !ok || len(t) != 5 {
		return nil, m.errf("persistent id is not a 5-tuple")
	}
	kind, _ := t[0].(string)
	g, gok := t[1].(global)
	key, kok := t[2].(string)
	loc, _ := t[3].(string)
	numel, nok := t[4].(int64)
	if kind != "storage" || !gok || !kok || !nok || numel < 0 {
		return nil, m.errf("persistent id is not ('storage', type, key, location, numel)")
	}
	dt, ok := storageTypes[g.name]
	if g.module != "torch" || !ok {
		return nil, m.errf("storage type %s.%s", g.module, g.name)
	}
	return &storage{dtype: dt, key: key, location: loc, numel: numel}, nil
}

func (m *machine) call(fn, args any) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, m.errf("REDUCE on a %s", typeName(fn))
	}
	a, ok := args.([]any)
	if !ok {
		return nil, m.errf("REDUCE arguments are a %s", typeName(args))
	}
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(a) != 0 {
			return nil, m.errf("OrderedDict with arguments")
		}
		return &pyDict{}, nil
	case "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
		if len(a) < 6 || len(a) > 7 {
			return nil, m.errf("_rebuild_tensor_v2 with %d arguments", len(a))
		}
		st, ok := a[0].(*storage)
		off, ok2 := a[1].(int64)
		shape, ok3 := ints(a[2])
		stride, ok4 := ints(a[3])
		if !ok || !ok2 || !ok3 || !ok4 || len(shape) != len(stride) || len(shape) > maxRank || off < 0 {
			return nil, m.errf("malformed _rebuild_tensor_v2 arguments")
		}
		return m.tensor(st, off, shape, stride)
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		if len(a) < 3 {
			return nil, m.errf("%s with %d arguments", g.name, len(a))
		}
		t, ok := a[0].(*Tensor)
		if !ok {
			return nil, m.errf("%s of a %s", g.name, typeName(a[0]))
		}
		return t, nil
	}
	return nil, m.errf("%s.%s cannot be called", g.module, g.name)
}

func ints(v any) ([]int64, bool) {
	t, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(t))
	for i, x := range t {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, false
		}
		out[i] = n
	}
	return out, true
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case []any:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case global:
		return "global"
	case *storage:
		return "storage"
	case *Tensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
