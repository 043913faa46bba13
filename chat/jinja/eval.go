package jinja

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Options bounds and configures one render.
type Options struct {
	// Now is the clock behind strftime_now; nil means time.Now.
	Now func() time.Time
	// MaxSteps bounds loop iterations plus macro calls (default 10,000,000),
	// so a hostile template errors instead of hanging.
	MaxSteps int
	// MaxOutput bounds the size in bytes of any rendered or built string
	// (default 64 MiB).
	MaxOutput int
	// MaxDepth bounds macro recursion (default 200).
	MaxDepth int
}

const (
	defaultMaxSteps  = 10_000_000
	defaultMaxOutput = 64 << 20
	defaultMaxDepth  = 200
	// maxRange is jinja2's sandbox limit on range() sizes.
	maxRange = 100000
	// maxListLen bounds lists built by + and *.
	maxListLen = 1 << 22
)

// scope is one level of variables. Loop iterations and macro calls make
// many small scopes, so names live in a short slice backed by an inline
// array (one allocation per scope); the root scope with the caller's
// variables uses a map.
type scope struct {
	vars   map[string]Value
	kvs    []scopeVar
	buf    [4]scopeVar
	parent *scope
}

type scopeVar struct {
	name string
	val  Value
}

func newScope(parent *scope) *scope {
	s := &scope{parent: parent}
	s.kvs = s.buf[:0]
	return s
}

func (s *scope) lookup(name string) (Value, bool) {
	for ; s != nil; s = s.parent {
		if s.vars != nil {
			if v, ok := s.vars[name]; ok {
				return v, true
			}
		}
		for i := range s.kvs {
			if s.kvs[i].name == name {
				return s.kvs[i].val, true
			}
		}
	}
	return nil, false
}

func (s *scope) set(name string, v Value) {
	if s.vars != nil {
		s.vars[name] = v
		return
	}
	for i := range s.kvs {
		if s.kvs[i].name == name {
			s.kvs[i].val = v
			return
		}
	}
	s.kvs = append(s.kvs, scopeVar{name, v})
}

func (s *scope) has(name string) bool {
	if s.vars != nil {
		_, ok := s.vars[name]
		return ok
	}
	for i := range s.kvs {
		if s.kvs[i].name == name {
			return true
		}
	}
	return false
}

type renderer struct {
	out   *strings.Builder
	opts  Options
	steps int
	depth int
}

var (
	errBreak    = errors.New("break outside loop")
	errContinue = errors.New("continue outside loop")
)

func runtimeErr(kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

func typeErr(format string, args ...any) *Error { return runtimeErr("TypeError", format, args...) }

// Render executes the template with the given variables.
func (t *Template) Render(vars map[string]Value, opts *Options) (string, error) {
	r := &renderer{out: &strings.Builder{}}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.MaxSteps <= 0 {
		r.opts.MaxSteps = defaultMaxSteps
	}
	if r.opts.MaxOutput <= 0 {
		r.opts.MaxOutput = defaultMaxOutput
	}
	if r.opts.MaxDepth <= 0 {
		r.opts.MaxDepth = defaultMaxDepth
	}
	if r.opts.Now == nil {
		r.opts.Now = time.Now
	}
	root := &scope{vars: make(map[string]Value, len(vars)+8), parent: globals}
	for k, v := range vars {
		root.vars[k] = v
	}
	err := r.execBody(t.body, root)
	if err == errBreak || err == errContinue {
		return "", syntaxErr(0, "%s", err.Error())
	}
	if err != nil {
		return "", err
	}
	return r.out.String(), nil
}

func (r *renderer) write(s string) error {
	r.out.WriteString(s)
	if r.out.Len() > r.opts.MaxOutput {
		return runtimeErr("OutputTooLarge", "rendered output exceeds %d bytes", r.opts.MaxOutput)
	}
	return nil
}

func (r *renderer) step() error {
	r.steps++
	if r.steps > r.opts.MaxSteps {
		return runtimeErr("TemplateRuntimeError", "template exceeded %d loop iterations and macro calls", r.opts.MaxSteps)
	}
	return nil
}

// capture renders body into a string.
func (r *renderer) capture(body []node, sc *scope) (string, error) {
	saved := r.out
	r.out = &strings.Builder{}
	err := r.execBody(body, sc)
	s := r.out.String()
	r.out = saved
	return s, err
}

func (r *renderer) execBody(body []node, sc *scope) error {
	for _, n := range body {
		if err := n.exec(r, sc); err != nil {
			return err
		}
	}
	return nil
}

func (n *textNode) exec(r *renderer, sc *scope) error { return r.write(n.s) }

func (n *outputNode) exec(r *renderer, sc *scope) error {
	v, err := n.e.eval(r, sc)
	if err != nil {
		return err
	}
	if s, ok := v.(string); ok {
		return r.write(s)
	}
	return r.write(str(v))
}

func (n *ifNode) exec(r *renderer, sc *scope) error {
	for i, c := range n.conds {
		v, err := c.eval(r, sc)
		if err != nil {
			return err
		}
		if truthy(v) {
			return r.execBody(n.bodies[i], sc)
		}
	}
	return r.execBody(n.els, sc)
}

// iterate lists the items Python's iter(v) yields.
func iterate(v Value) ([]Value, error) {
	switch x := v.(type) {
	case *List:
		if x.isIterator() {
			if x.err != nil {
				return nil, x.err
			}
			if x.consumed {
				return nil, nil
			}
			x.consumed = true
		}
		return x.Items, nil
	case *Dict:
		return x.keys, nil
	case string:
		out := make([]Value, 0, len(x))
		for _, c := range x {
			out = append(out, string(c))
		}
		return out, nil
	case Undefined:
		if x.Exc != "" {
			return nil, x.err()
		}
		return nil, nil
	case *Namespace:
		return nil, typeErr("'Namespace' object is not iterable")
	}
	return nil, typeErr("'%s' object is not iterable", typeName(v))
}

func (r *renderer) assign(sc *scope, t *target, v Value) error {
	switch {
	case t.tuple:
		items, err := iterate(v)
		if err != nil {
			return typeErr("cannot unpack non-iterable %s object", typeName(v))
		}
		if len(items) > len(t.items) {
			return runtimeErr("ValueError", "too many values to unpack (expected %d)", len(t.items))
		}
		if len(items) < len(t.items) {
			return runtimeErr("ValueError", "not enough values to unpack (expected %d, got %d)", len(t.items), len(items))
		}
		for i, it := range t.items {
			if err := r.assign(sc, it, items[i]); err != nil {
				return err
			}
		}
	case t.attr != "":
		obj, _ := sc.lookup(t.name)
		ns, ok := obj.(*Namespace)
		if !ok {
			return runtimeErr("TemplateRuntimeError", "cannot assign attribute on non-namespace object")
		}
		ns.D.SetStr(t.attr, v)
	default:
		sc.set(t.name, v)
	}
	return nil
}

type loopObj struct {
	items   []Value
	i       int
	depth   int
	lastVal Value
	hasLast bool
}

func (l *loopObj) attr(name string) (Value, bool) {
	n := int64(len(l.items))
	i := int64(l.i)
	switch name {
	case "index":
		return i + 1, true
	case "index0":
		return i, true
	case "revindex":
		return n - i, true
	case "revindex0":
		return n - i - 1, true
	case "first":
		return i == 0, true
	case "last":
		return i == n-1, true
	case "length":
		return n, true
	case "depth":
		return int64(l.depth), true
	case "depth0":
		return int64(l.depth - 1), true
	case "previtem":
		if i == 0 {
			return Undefined{Hint: "there is no previous item"}, true
		}
		return l.items[i-1], true
	case "nextitem":
		if i >= n-1 {
			return Undefined{Hint: "there is no next item"}, true
		}
		return l.items[i+1], true
	case "cycle":
		return &builtin{n: "cycle", f: func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) == 0 {
				return nil, typeErr("no items for cycling given")
			}
			return args[l.i%len(args)], nil
		}}, true
	case "changed":
		return &builtin{n: "changed", f: func(r *renderer, args []Value, kw *Dict) (Value, error) {
			v := &List{Items: args}
			if l.hasLast && equal(l.lastVal, v) {
				return false, nil
			}
			l.lastVal, l.hasLast = v, true
			return true, nil
		}}, true
	}
	return nil, false
}

func (n *forNode) exec(r *renderer, sc *scope) error {
	iv, err := n.iter.eval(r, sc)
	if err != nil {
		return err
	}
	items, err := iterate(iv)
	if err != nil {
		return err
	}
	ls := newScope(sc)
	if n.filter != nil {
		var kept []Value
		for _, it := range items {
			if err := r.step(); err != nil {
				return err
			}
			if err := r.assign(ls, n.tgt, it); err != nil {
				return err
			}
			v, err := n.filter.eval(r, ls)
			if err != nil {
				return err
			}
			if truthy(v) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if len(items) == 0 {
		return r.execBody(n.els, sc)
	}
	// depth counts recursion levels of recursive loops, not nesting:
	// without loop(...) calls it is always 1.
	depth := 1
	lo := &loopObj{items: items, depth: depth}
	for i, it := range items {
		if err := r.step(); err != nil {
			return err
		}
		lo.i = i
		// Each iteration gets a fresh scope: in jinja2 a variable set in
		// the body is not seen by the next iteration, which reads the outer
		// value again.
		if n.captures || ls.parent != sc {
			ls = newScope(sc)
		} else {
			clear(ls.kvs)
			ls.kvs = ls.kvs[:0]
		}
		if err := r.assign(ls, n.tgt, it); err != nil {
			return err
		}
		ls.set("loop", lo)
		err := r.execBody(n.body, ls)
		if err == errBreak {
			break
		}
		if err != nil && err != errContinue {
			return err
		}
	}
	return nil
}

func (n *setNode) exec(r *renderer, sc *scope) error {
	v, err := n.e.eval(r, sc)
	if err != nil {
		return err
	}
	return r.assign(sc, n.tgt, v)
}

func (n *setBlockNode) exec(r *renderer, sc *scope) error {
	s, err := r.capture(n.body, sc)
	if err != nil {
		return err
	}
	var v Value = s
	for _, f := range n.filters {
		v, err = r.applyFilter(f, v, sc)
		if err != nil {
			return err
		}
	}
	return r.assign(sc, n.tgt, v)
}

func (n *macroNode) exec(r *renderer, sc *scope) error {
	sc.set(n.decl.name, &macro{decl: n.decl, sc: sc})
	return nil
}

func (n *callBlockNode) exec(r *renderer, sc *scope) error {
	caller := &macro{decl: n.caller, sc: sc}
	v, err := r.evalCall(n.call, sc, caller)
	if err != nil {
		return err
	}
	return r.write(str(v))
}

func (n *filterBlockNode) exec(r *renderer, sc *scope) error {
	s, err := r.capture(n.body, sc)
	if err != nil {
		return err
	}
	var v Value = s
	for _, f := range n.filters {
		v, err = r.applyFilter(f, v, sc)
		if err != nil {
			return err
		}
	}
	return r.write(str(v))
}

func (n *withNode) exec(r *renderer, sc *scope) error {
	ws := newScope(sc)
	for i, t := range n.tgts {
		v, err := n.vals[i].eval(r, sc)
		if err != nil {
			return err
		}
		if err := r.assign(ws, t, v); err != nil {
			return err
		}
	}
	return r.execBody(n.body, ws)
}

func (breakNode) exec(r *renderer, sc *scope) error    { return errBreak }
func (continueNode) exec(r *renderer, sc *scope) error { return errContinue }

// Macros.

type macro struct {
	decl *macroDecl
	sc   *scope
}

func (m *macro) name() string { return m.decl.name }

func (m *macro) call(r *renderer, args []Value, kw *Dict) (Value, error) {
	if err := r.step(); err != nil {
		return nil, err
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > r.opts.MaxDepth {
		return nil, runtimeErr("RecursionError", "maximum macro recursion depth (%d) exceeded", r.opts.MaxDepth)
	}
	d := m.decl
	ms := newScope(m.sc)
	set := make([]bool, len(d.params))
	var varargs []Value
	for i, a := range args {
		if i < len(d.params) {
			ms.set(d.params[i].name, a)
			set[i] = true
		} else if d.catchVarargs {
			varargs = append(varargs, a)
		} else {
			return nil, typeErr("macro %s takes not more than %d argument(s)", reprString(d.name), len(d.params))
		}
	}
	extra := NewDict()
	if kw != nil {
		for i, k := range kw.keys {
			name, _ := k.(string)
			found := false
			for j, p := range d.params {
				if p.name == name {
					if set[j] {
						return nil, typeErr("macro %s got multiple values for argument %s", reprString(d.name), reprString(name))
					}
					ms.set(name, kw.vals[i])
					set[j] = true
					found = true
					break
				}
			}
			if found {
				continue
			}
			if name == "caller" && d.usesCaller {
				ms.set("caller", kw.vals[i])
				continue
			}
			if !d.catchKwargs {
				return nil, typeErr("macro %s takes no keyword argument %s", reprString(d.name), reprString(name))
			}
			extra.SetStr(name, kw.vals[i])
		}
	}
	for j, p := range d.params {
		if set[j] {
			continue
		}
		if p.def != nil {
			v, err := p.def.eval(r, ms)
			if err != nil {
				return nil, err
			}
			ms.set(p.name, v)
		} else {
			ms.set(p.name, Undefined{Hint: fmt.Sprintf("parameter %s was not provided", reprString(p.name))})
		}
	}
	ms.set("varargs", &List{Items: varargs, Tuple: true})
	ms.set("kwargs", extra)
	if !ms.has("caller") && d.usesCaller {
		ms.set("caller", Undefined{Hint: "No caller defined"})
	}
	s, err := r.capture(d.body, ms)
	if err == errBreak || err == errContinue {
		err = syntaxErr(0, "%s", err.Error())
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// builtin is a Go function callable from templates.
type builtin struct {
	n string
	f func(r *renderer, args []Value, kw *Dict) (Value, error)
}

func (b *builtin) name() string { return b.n }
func (b *builtin) call(r *renderer, args []Value, kw *Dict) (Value, error) {
	return b.f(r, args, kw)
}

// Undefined errors.

// Exc, when set, is the exception class raised on use (SecurityError for
// blocked attributes); otherwise UndefinedError.
func (u Undefined) err() *Error {
	kind := u.Exc
	if kind == "" {
		kind = "UndefinedError"
	}
	return &Error{Kind: kind, Msg: u.Hint}
}

func objectTypeRepr(v Value) string {
	switch v.(type) {
	case nil:
		return "None"
	case *Namespace:
		return "jinja2.utils.Namespace object"
	}
	return typeName(v) + " object"
}

func undefAttr(obj Value, name string) Undefined {
	return Undefined{Hint: fmt.Sprintf("%s has no attribute %s", reprString(objectTypeRepr(obj)), reprString(name))}
}

func undefItem(obj Value, key Value) Undefined {
	if s, ok := key.(string); ok {
		return undefAttr(obj, s)
	}
	return Undefined{Hint: fmt.Sprintf("%s has no element %s", objectTypeRepr(obj), repr(key))}
}

// Expressions.

func (e *constExpr) eval(r *renderer, sc *scope) (Value, error) { return e.v, nil }

func (e *nameExpr) eval(r *renderer, sc *scope) (Value, error) {
	if v, ok := sc.lookup(e.name); ok {
		return v, nil
	}
	return Undefined{Hint: reprString(e.name) + " is undefined"}, nil
}

func (e *listExpr) eval(r *renderer, sc *scope) (Value, error) {
	l := &List{Items: make([]Value, len(e.items)), Tuple: e.tuple}
	for i, it := range e.items {
		v, err := it.eval(r, sc)
		if err != nil {
			return nil, err
		}
		l.Items[i] = v
	}
	return l, nil
}

func (e *dictExpr) eval(r *renderer, sc *scope) (Value, error) {
	d := NewDict()
	for i := range e.keys {
		k, err := e.keys[i].eval(r, sc)
		if err != nil {
			return nil, err
		}
		v, err := e.vals[i].eval(r, sc)
		if err != nil {
			return nil, err
		}
		if err := d.Set(k, v); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (e *getattrExpr) eval(r *renderer, sc *scope) (Value, error) {
	obj, err := e.obj.eval(r, sc)
	if err != nil {
		return nil, err
	}
	return getattr(obj, e.attr)
}

// getattr is jinja2's environment.getattr: attribute first, then item.
func getattr(obj Value, name string) (Value, error) {
	switch x := obj.(type) {
	case Undefined:
		return nil, x.err()
	case *Dict:
		if m := dictMethod(x, name); m != nil {
			return m, nil
		}
		if v, ok := x.Get(name); ok {
			return v, nil
		}
	case *Namespace:
		if v, ok := x.D.Get(name); ok {
			return v, nil
		}
	case *loopObj:
		if v, ok := x.attr(name); ok {
			return v, nil
		}
	case string:
		if m := strMethod(x, name); m != nil {
			return m, nil
		}
	case *List:
		if x.group && len(x.Items) == 2 {
			switch name {
			case "grouper":
				return x.Items[0], nil
			case "list":
				return x.Items[1], nil
			}
		}
		if m := listMethod(x, name); m != nil {
			return m, nil
		}
	}
	return undefAttr(obj, name), nil
}

func (e *getitemExpr) eval(r *renderer, sc *scope) (Value, error) {
	obj, err := e.obj.eval(r, sc)
	if err != nil {
		return nil, err
	}
	key, err := e.key.eval(r, sc)
	if err != nil {
		return nil, err
	}
	return getitem(obj, key)
}

// getitem is jinja2's environment.getitem: item first, then attribute.
func getitem(obj, key Value) (Value, error) {
	switch x := obj.(type) {
	case Undefined:
		return nil, x.err()
	case *Dict:
		if v, ok := x.Get(key); ok {
			return v, nil
		}
	case *List:
		if i, ok := asInt(key); ok && (x.plain() || x.Iter == "range") {
			n := int64(len(x.Items))
			if i < 0 {
				i += n
			}
			if i >= 0 && i < n {
				return x.Items[i], nil
			}
			return undefItem(obj, key), nil
		}
	case string:
		if i, ok := asInt(key); ok {
			rs := []rune(x)
			n := int64(len(rs))
			if i < 0 {
				i += n
			}
			if i >= 0 && i < n {
				return string(rs[i]), nil
			}
			return undefItem(obj, key), nil
		}
	case *loopObj, *Namespace:
	}
	if s, ok := key.(string); ok {
		return getattr(obj, s)
	}
	return undefItem(obj, key), nil
}

func (e *sliceExpr) eval(r *renderer, sc *scope) (Value, error) {
	obj, err := e.obj.eval(r, sc)
	if err != nil {
		return nil, err
	}
	if u, ok := obj.(Undefined); ok {
		return nil, u.err()
	}
	var bounds [3]Value
	for i, b := range []expr{e.start, e.stop, e.step} {
		if b == nil {
			continue
		}
		v, err := b.eval(r, sc)
		if err != nil {
			return nil, err
		}
		bounds[i] = v
	}
	return slice(obj, bounds[0], bounds[1], bounds[2])
}

// sliceIndices is Python's slice.indices.
func sliceIndices(n int, start, stop, step Value) (int, int, int, error) {
	st := 1
	if step != nil {
		s, ok := asInt(step)
		if !ok {
			return 0, 0, 0, typeErr("slice indices must be integers or None or have an __index__ method")
		}
		if s == 0 {
			return 0, 0, 0, runtimeErr("ValueError", "slice step cannot be zero")
		}
		st = int(max(min(s, math.MaxInt32), math.MinInt32))
	}
	conv := func(v Value, def int) (int, error) {
		if v == nil {
			return def, nil
		}
		i, ok := asInt(v)
		if !ok {
			return 0, typeErr("slice indices must be integers or None or have an __index__ method")
		}
		i = max(min(i, math.MaxInt32), math.MinInt32)
		x := int(i)
		if x < 0 {
			x += n
			if x < 0 {
				if st < 0 {
					x = -1
				} else {
					x = 0
				}
			}
		} else if x >= n {
			if st < 0 {
				x = n - 1
			} else {
				x = n
			}
		}
		return x, nil
	}
	var lo, hi int
	var err error
	if st > 0 {
		if lo, err = conv(start, 0); err != nil {
			return 0, 0, 0, err
		}
		if hi, err = conv(stop, n); err != nil {
			return 0, 0, 0, err
		}
	} else {
		if lo, err = conv(start, n-1); err != nil {
			return 0, 0, 0, err
		}
		if hi, err = conv(stop, -1); err != nil {
			return 0, 0, 0, err
		}
	}
	return lo, hi, st, nil
}

func slice(obj, start, stop, step Value) (Value, error) {
	pick := func(n int, f func(i int)) error {
		lo, hi, st, err := sliceIndices(n, start, stop, step)
		if err != nil {
			return err
		}
		if st > 0 {
			for i := lo; i < hi; i += st {
				f(i)
			}
		} else {
			for i := lo; i > hi; i += st {
				f(i)
			}
		}
		return nil
	}
	switch x := obj.(type) {
	case *List:
		if !x.plain() && x.Iter != "range" {
			break
		}
		out := &List{Tuple: x.Tuple}
		if x.Iter == "range" {
			// A slice of a range is a range; keep its items as a list.
			out.Iter = ""
		}
		err := pick(len(x.Items), func(i int) { out.Items = append(out.Items, x.Items[i]) })
		return out, err
	case string:
		var rs []rune
		ascii := isASCII(x)
		n := len(x)
		if !ascii {
			rs = []rune(x)
			n = len(rs)
		}
		var b strings.Builder
		err := pick(n, func(i int) {
			if ascii {
				b.WriteByte(x[i])
			} else {
				b.WriteRune(rs[i])
			}
		})
		return b.String(), err
	}
	// jinja2 compiles slices to plain Python subscripts (no getitem
	// fallback), so non-sequences raise.
	if _, ok := obj.(*Dict); ok {
		return nil, typeErr("unhashable type: 'slice'")
	}
	return nil, typeErr("'%s' object is not subscriptable", typeName(obj))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func (r *renderer) evalArgs(ca *callArgs, sc *scope) ([]Value, *Dict, error) {
	args := make([]Value, 0, len(ca.args))
	for _, a := range ca.args {
		v, err := a.eval(r, sc)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, v)
	}
	if ca.dynArg != nil {
		v, err := ca.dynArg.eval(r, sc)
		if err != nil {
			return nil, nil, err
		}
		items, err := iterate(v)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, items...)
	}
	var kw *Dict
	if len(ca.kwargs) > 0 || ca.dynKw != nil {
		kw = NewDict()
		for _, k := range ca.kwargs {
			v, err := k.val.eval(r, sc)
			if err != nil {
				return nil, nil, err
			}
			kw.SetStr(k.name, v)
		}
		if ca.dynKw != nil {
			v, err := ca.dynKw.eval(r, sc)
			if err != nil {
				return nil, nil, err
			}
			d, ok := v.(*Dict)
			if !ok {
				return nil, nil, typeErr("argument after ** must be a mapping, not %s", typeName(v))
			}
			for i, k := range d.keys {
				kw.Set(k, d.vals[i])
			}
		}
	}
	return args, kw, nil
}

func (e *callExpr) eval(r *renderer, sc *scope) (Value, error) { return r.evalCall(e, sc, nil) }

func (r *renderer) evalCall(e *callExpr, sc *scope, caller *macro) (Value, error) {
	fn, err := e.fn.eval(r, sc)
	if err != nil {
		return nil, err
	}
	args, kw, err := r.evalArgs(&e.callArgs, sc)
	if err != nil {
		return nil, err
	}
	if caller != nil {
		if kw == nil {
			kw = NewDict()
		}
		kw.SetStr("caller", caller)
	}
	return callValue(r, fn, args, kw)
}

func callValue(r *renderer, fn Value, args []Value, kw *Dict) (Value, error) {
	switch f := fn.(type) {
	case Undefined:
		return nil, f.err()
	case callable:
		return f.call(r, args, kw)
	}
	return nil, typeErr("'%s' object is not callable", typeName(fn))
}

func (e *filterExpr) eval(r *renderer, sc *scope) (Value, error) {
	v, err := e.target.eval(r, sc)
	if err != nil {
		return nil, err
	}
	return r.applyFilter(e, v, sc)
}

func (r *renderer) applyFilter(e *filterExpr, v Value, sc *scope) (Value, error) {
	f := filters[e.name]
	args, kw, err := r.evalArgs(&e.callArgs, sc)
	if err != nil {
		return nil, err
	}
	return f(r, v, args, kw)
}

func (e *testExpr) eval(r *renderer, sc *scope) (Value, error) {
	v, err := e.target.eval(r, sc)
	if err != nil {
		return nil, err
	}
	args, kw, err := r.evalArgs(&e.callArgs, sc)
	if err != nil {
		return nil, err
	}
	ok, err := tests[e.name](r, v, args, kw)
	return ok, err
}

func (e *notExpr) eval(r *renderer, sc *scope) (Value, error) {
	v, err := e.x.eval(r, sc)
	if err != nil {
		return nil, err
	}
	return !truthy(v), nil
}

func (e *negExpr) eval(r *renderer, sc *scope) (Value, error) {
	v, err := e.x.eval(r, sc)
	if err != nil {
		return nil, err
	}
	op := "+"
	if e.neg {
		op = "-"
	}
	switch x := v.(type) {
	case bool:
		n, _ := asInt(x)
		if e.neg {
			return -n, nil
		}
		return n, nil
	case int64:
		if e.neg {
			if x == math.MinInt64 {
				return nil, runtimeErr("OverflowError", "integer overflow")
			}
			return -x, nil
		}
		return x, nil
	case float64:
		if e.neg {
			return -x, nil
		}
		return x, nil
	case Undefined:
		return nil, x.err()
	}
	return nil, typeErr("bad operand type for unary %s: '%s'", op, typeName(v))
}

func (e *andExpr) eval(r *renderer, sc *scope) (Value, error) {
	a, err := e.a.eval(r, sc)
	if err != nil || !truthy(a) {
		return a, err
	}
	return e.b.eval(r, sc)
}

func (e *orExpr) eval(r *renderer, sc *scope) (Value, error) {
	a, err := e.a.eval(r, sc)
	if err != nil || truthy(a) {
		return a, err
	}
	return e.b.eval(r, sc)
}

func (e *condExpr) eval(r *renderer, sc *scope) (Value, error) {
	c, err := e.cond.eval(r, sc)
	if err != nil {
		return nil, err
	}
	if truthy(c) {
		return e.a.eval(r, sc)
	}
	if e.b == nil {
		return Undefined{Hint: "the inline if-expression on line evaluated to false and no else section was defined."}, nil
	}
	return e.b.eval(r, sc)
}

func (e *compareExpr) eval(r *renderer, sc *scope) (Value, error) {
	a, err := e.first.eval(r, sc)
	if err != nil {
		return nil, err
	}
	for i, op := range e.ops {
		b, err := e.rest[i].eval(r, sc)
		if err != nil {
			return nil, err
		}
		ok, err := compare(op, a, b)
		if err != nil {
			return nil, err
		}
		if !ok {
			return false, nil
		}
		a = b
	}
	return true, nil
}

func compare(op string, a, b Value) (bool, error) {
	switch op {
	case "==":
		return equal(a, b), nil
	case "!=":
		return !equal(a, b), nil
	case "in":
		return contains(b, a)
	case "notin":
		ok, err := contains(b, a)
		return !ok, err
	}
	c, err := order(op, a, b)
	if err != nil {
		return false, err
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

// order compares a and b as Python's < does (numbers, strings, lists).
func order(op string, a, b Value) (int, error) {
	if ia, ok := asInt(a); ok {
		if ib, ok := asInt(b); ok {
			switch {
			case ia < ib:
				return -1, nil
			case ia > ib:
				return 1, nil
			}
			return 0, nil
		}
	}
	if fa, ok := toNum(a); ok {
		if fb, ok := toNum(b); ok {
			switch {
			case fa < fb:
				return -1, nil
			case fa > fb:
				return 1, nil
			case fa == fb:
				return 0, nil
			}
			return 2, nil // NaN: every comparison false
		}
	}
	if sa, ok := a.(string); ok {
		if sb, ok := b.(string); ok {
			return strings.Compare(sa, sb), nil
		}
	}
	if la, ok := a.(*List); ok {
		if lb, ok := b.(*List); ok && la.Tuple == lb.Tuple && la.plain() && lb.plain() {
			for i := 0; i < len(la.Items) && i < len(lb.Items); i++ {
				if equal(la.Items[i], lb.Items[i]) {
					continue
				}
				return order(op, la.Items[i], lb.Items[i])
			}
			return len(la.Items) - len(lb.Items), nil
		}
	}
	if u, ok := a.(Undefined); ok {
		return 0, u.err()
	}
	if u, ok := b.(Undefined); ok {
		return 0, u.err()
	}
	return 0, typeErr("'%s' not supported between instances of '%s' and '%s'", op, typeName(a), typeName(b))
}

// contains is Python's `needle in hay`.
func contains(hay, needle Value) (bool, error) {
	switch h := hay.(type) {
	case string:
		n, ok := needle.(string)
		if !ok {
			return false, typeErr("'in <string>' requires string as left operand, not %s", typeName(needle))
		}
		return strings.Contains(h, n), nil
	case *List:
		items, err := iterate(h)
		if err != nil {
			return false, err
		}
		for _, it := range items {
			if equal(it, needle) {
				return true, nil
			}
		}
		return false, nil
	case *Dict:
		if _, err := keyOf(needle); err != nil {
			return false, err
		}
		_, ok := h.Get(needle)
		return ok, nil
	case Undefined:
		return false, nil
	}
	return false, typeErr("argument of type '%s' is not iterable", typeName(hay))
}

func (e *binExpr) eval(r *renderer, sc *scope) (Value, error) {
	a, err := e.a.eval(r, sc)
	if err != nil {
		return nil, err
	}
	b, err := e.b.eval(r, sc)
	if err != nil {
		return nil, err
	}
	v, err := r.binop(e.op, a, b)
	if err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok && len(s) > r.opts.MaxOutput {
		return nil, runtimeErr("OutputTooLarge", "string exceeds %d bytes", r.opts.MaxOutput)
	}
	return v, nil
}

func (r *renderer) binop(op string, a, b Value) (Value, error) {
	if op == "~" {
		return str(a) + str(b), nil
	}
	if u, ok := a.(Undefined); ok {
		return nil, u.err()
	}
	if u, ok := b.(Undefined); ok {
		return nil, u.err()
	}
	ia, aInt := asInt(a)
	ib, bInt := asInt(b)
	fa, aNum := toNum(a)
	fb, bNum := toNum(b)
	unsupported := func() error {
		sym := op
		if op == "**" {
			sym = "** or pow()"
		}
		return typeErr("unsupported operand type(s) for %s: '%s' and '%s'", sym, typeName(a), typeName(b))
	}
	switch op {
	case "+":
		switch {
		case aInt && bInt:
			s := ia + ib
			if (s > ia) != (ib > 0) {
				return nil, runtimeErr("OverflowError", "integer overflow")
			}
			return s, nil
		case aNum && bNum:
			return fa + fb, nil
		}
		switch x := a.(type) {
		case string:
			if y, ok := b.(string); ok {
				return x + y, nil
			}
			return nil, typeErr("can only concatenate str (not \"%s\") to str", typeName(b))
		case *List:
			if y, ok := b.(*List); ok && x.Tuple == y.Tuple && x.plain() && y.plain() {
				if len(x.Items)+len(y.Items) > maxListLen {
					return nil, runtimeErr("OutputTooLarge", "list longer than %d items", maxListLen)
				}
				out := &List{Tuple: x.Tuple, Items: make([]Value, 0, len(x.Items)+len(y.Items))}
				out.Items = append(append(out.Items, x.Items...), y.Items...)
				return out, nil
			}
			if !x.plain() {
				return nil, unsupported()
			}
			if x.Tuple {
				return nil, typeErr("can only concatenate tuple (not \"%s\") to tuple", typeName(b))
			}
			return nil, typeErr("can only concatenate list (not \"%s\") to list", typeName(b))
		}
		return nil, unsupported()
	case "-":
		switch {
		case aInt && bInt:
			s := ia - ib
			if (s < ia) != (ib > 0) {
				return nil, runtimeErr("OverflowError", "integer overflow")
			}
			return s, nil
		case aNum && bNum:
			return fa - fb, nil
		}
		return nil, unsupported()
	case "*":
		switch {
		case aInt && bInt:
			if ia != 0 && ib != 0 {
				p := ia * ib
				if p/ib != ia || (ia == -1 && ib == math.MinInt64) || (ib == -1 && ia == math.MinInt64) {
					return nil, runtimeErr("OverflowError", "integer overflow")
				}
				return p, nil
			}
			return int64(0), nil
		case aNum && bNum:
			return fa * fb, nil
		}
		if s, ok := a.(string); ok && bInt {
			return r.repeatStr(s, ib)
		}
		if s, ok := b.(string); ok && aInt {
			return r.repeatStr(s, ia)
		}
		if l, ok := a.(*List); ok && bInt && l.plain() {
			return r.repeatList(l, ib)
		}
		if l, ok := b.(*List); ok && aInt && l.plain() {
			return r.repeatList(l, ia)
		}
		if isSeq(a) && !bNum {
			return nil, typeErr("can't multiply sequence by non-int of type '%s'", typeName(b))
		}
		if isSeq(b) && !aNum {
			return nil, typeErr("can't multiply sequence by non-int of type '%s'", typeName(a))
		}
		if isSeq(a) || isSeq(b) {
			other := b
			if isSeq(b) {
				other = a
			}
			return nil, typeErr("can't multiply sequence by non-int of type '%s'", typeName(other))
		}
		return nil, unsupported()
	case "/":
		if aNum && bNum {
			if fb == 0 {
				if !aInt || !bInt {
					return nil, runtimeErr("ZeroDivisionError", "float division by zero")
				}
				return nil, runtimeErr("ZeroDivisionError", "division by zero")
			}
			return fa / fb, nil
		}
		return nil, unsupported()
	case "//":
		if aInt && bInt {
			if ib == 0 {
				return nil, runtimeErr("ZeroDivisionError", "integer division or modulo by zero")
			}
			q := ia / ib
			if (ia%ib != 0) && ((ia < 0) != (ib < 0)) {
				q--
			}
			return q, nil
		}
		if aNum && bNum {
			if fb == 0 {
				return nil, runtimeErr("ZeroDivisionError", "float floor division by zero")
			}
			q, _ := floorDivMod(fa, fb)
			return q, nil
		}
		return nil, unsupported()
	case "%":
		if s, ok := a.(string); ok {
			return percentFormat(s, b)
		}
		if aInt && bInt {
			if ib == 0 {
				return nil, runtimeErr("ZeroDivisionError", "integer modulo by zero")
			}
			m := ia % ib
			if m != 0 && ((m < 0) != (ib < 0)) {
				m += ib
			}
			return m, nil
		}
		if aNum && bNum {
			if fb == 0 {
				return nil, runtimeErr("ZeroDivisionError", "float modulo")
			}
			_, m := floorDivMod(fa, fb)
			return m, nil
		}
		return nil, unsupported()
	case "**":
		if aInt && bInt && ib >= 0 {
			return intPow(ia, ib)
		}
		if aNum && bNum {
			return math.Pow(fa, fb), nil
		}
		return nil, unsupported()
	}
	return nil, unsupported()
}

func intPow(base, exp int64) (Value, error) {
	switch base {
	case 0:
		if exp == 0 {
			return int64(1), nil
		}
		return int64(0), nil
	case 1:
		return int64(1), nil
	case -1:
		if exp%2 == 0 {
			return int64(1), nil
		}
		return int64(-1), nil
	}
	res := int64(1)
	for e := exp; e > 0; e-- {
		if abs64(res) > math.MaxInt64/abs64(base) {
			return nil, runtimeErr("OverflowError", "integer overflow")
		}
		res *= base
	}
	return res, nil
}

func isSeq(v Value) bool {
	switch x := v.(type) {
	case string:
		return true
	case *List:
		return x.plain()
	}
	return false
}

// floorDivMod is Python's float divmod.
func floorDivMod(a, b float64) (float64, float64) {
	mod := math.Mod(a, b)
	div := (a - mod) / b
	if mod != 0 {
		if (b < 0) != (mod < 0) {
			mod += b
			div -= 1
		}
	} else {
		mod = math.Copysign(0, b)
	}
	var floordiv float64
	if div != 0 {
		floordiv = math.Floor(div)
		if div-floordiv > 0.5 {
			floordiv++
		}
	} else {
		floordiv = math.Copysign(0, a/b)
	}
	return floordiv, mod
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func (r *renderer) repeatStr(s string, n int64) (Value, error) {
	if n <= 0 || s == "" {
		return "", nil
	}
	if n > int64(r.opts.MaxOutput)/int64(len(s)) {
		return nil, runtimeErr("OutputTooLarge", "string exceeds %d bytes", r.opts.MaxOutput)
	}
	return strings.Repeat(s, int(n)), nil
}

func (r *renderer) repeatList(l *List, n int64) (Value, error) {
	out := &List{Tuple: l.Tuple}
	if n <= 0 || len(l.Items) == 0 {
		return out, nil
	}
	if n > maxListLen || n*int64(len(l.Items)) > maxListLen {
		return nil, runtimeErr("OverflowError", "list too large")
	}
	for i := int64(0); i < n; i++ {
		out.Items = append(out.Items, l.Items...)
	}
	return out, nil
}
