package jinja

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

type filterFunc func(r *renderer, v Value, args []Value, kw *Dict) (Value, error)

type testFunc func(r *renderer, v Value, args []Value, kw *Dict) (bool, error)

var (
	filters map[string]filterFunc
	tests   map[string]testFunc
)

// arg fetches parameter i (named name) from positional or keyword arguments.
func arg(args []Value, kw *Dict, i int, name string, def Value) Value {
	if i < len(args) {
		return args[i]
	}
	if kw != nil {
		if v, ok := kw.Get(name); ok {
			return v
		}
	}
	return def
}

// length is Python's len().
func length(v Value) (int, error) {
	switch x := v.(type) {
	case string:
		return utf8.RuneCountInString(x), nil
	case *List:
		if x.isIterator() {
			return 0, typeErr("object of type '%s' has no len()", x.Iter)
		}
		return len(x.Items), nil
	case *Dict:
		return x.Len(), nil
	case *Namespace:
		return 0, typeErr("object of type 'Namespace' has no len()")
	case Undefined:
		return 0, nil
	}
	return 0, typeErr("object of type '%s' has no len()", typeName(v))
}

func toList(v Value) (*List, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	return &List{Items: append([]Value(nil), items...)}, nil
}

func init() {
	filters = map[string]filterFunc{
		"abs": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			switch x := v.(type) {
			case int64:
				return abs64(x), nil
			case float64:
				return math.Abs(x), nil
			case bool:
				n, _ := asInt(x)
				return n, nil
			}
			return nil, typeErr("bad operand type for abs(): '%s'", typeName(v))
		},
		"attr": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return getattr(v, str(arg(args, kw, 0, "name", "")))
		},
		"batch": lazy(fBatch),
		"capitalize": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return pyCapitalize(str(v)), nil
		},
		"center": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			w, _ := asInt(arg(args, kw, 0, "width", int64(80)))
			return pyCenter(str(v), int(min(w, 1<<20))), nil
		},
		"count":   fLength,
		"length":  fLength,
		"default": fDefault,
		"d":       fDefault,
		"dictsort": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			d, ok := v.(*Dict)
			if !ok {
				if u, ok := v.(Undefined); ok {
					return nil, u.err()
				}
				return nil, runtimeErr("AttributeError", "'%s' object has no attribute 'items'", typeName(v))
			}
			cs := truthy(arg(args, kw, 0, "case_sensitive", false))
			by := str(arg(args, kw, 1, "by", "key"))
			rev := truthy(arg(args, kw, 2, "reverse", false))
			pos := 0
			switch by {
			case "key":
			case "value":
				pos = 1
			default:
				return nil, runtimeErr("FilterArgumentError", "You can only sort by either \"key\" or \"value\"")
			}
			items := dictItems(d)
			err := sortValues(items.Items, rev, func(x Value) Value {
				k := x.(*List).Items[pos]
				if !cs {
					return lowerIfStr(k)
				}
				return k
			})
			return items, err
		},
		"escape":      fEscape,
		"e":           fEscape,
		"forceescape": fEscape,
		"first": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			if len(items) == 0 {
				return Undefined{Hint: "No first item, sequence was empty."}, nil
			}
			return items[0], nil
		},
		"last": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			switch x := v.(type) {
			case *List:
				if x.isIterator() {
					return nil, typeErr("'%s' object is not reversible", x.Iter)
				}
			case string, *Dict, Undefined:
			default:
				return nil, typeErr("'%s' object is not reversible", typeName(v))
			}
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			if len(items) == 0 {
				return Undefined{Hint: "No last item, sequence was empty."}, nil
			}
			return items[len(items)-1], nil
		},
		"float": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			def := arg(args, kw, 0, "default", 0.0)
			switch x := v.(type) {
			case float64:
				return x, nil
			case int64, bool:
				f, _ := toNum(x)
				return f, nil
			case string:
				if f, ok := parsePyFloat(x); ok {
					return f, nil
				}
			}
			return def, nil
		},
		"format": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			if kw != nil && kw.Len() > 0 {
				return percentFormat(str(v), kw)
			}
			return percentFormat(str(v), &List{Items: args, Tuple: true})
		},
		"indent": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			w := arg(args, kw, 0, "width", int64(4))
			first := truthy(arg(args, kw, 1, "first", false))
			blank := truthy(arg(args, kw, 2, "blank", false))
			var ind string
			if s, ok := w.(string); ok {
				ind = s
			} else {
				n, _ := asInt(w)
				ind = strings.Repeat(" ", int(max(min(n, 1<<16), 0)))
			}
			sv, ok := v.(string)
			if !ok {
				switch v.(type) {
				case Undefined:
					return nil, v.(Undefined).err()
				case *List:
					return nil, runtimeErr("AttributeError", "'%s' object has no attribute 'splitlines'", typeName(v))
				}
				return nil, typeErr("unsupported operand type(s) for +=: '%s' and 'str'", typeName(v))
			}
			s := sv + "\n"
			lines := pySplitLines(s)
			if len(ind)*len(lines)+len(s) > r.opts.MaxOutput {
				return nil, runtimeErr("OutputTooLarge", "string exceeds %d bytes", r.opts.MaxOutput)
			}
			var b strings.Builder
			for i, ln := range lines {
				if i > 0 {
					b.WriteString("\n")
				}
				if (i > 0 || first) && (blank || strings.TrimFunc(ln, isPySpace) != "") {
					b.WriteString(ind)
				}
				b.WriteString(ln)
			}
			return b.String(), nil
		},
		"int": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			def := arg(args, kw, 0, "default", int64(0))
			base, _ := asInt(arg(args, kw, 1, "base", int64(10)))
			switch x := v.(type) {
			case int64:
				return x, nil
			case bool:
				n, _ := asInt(x)
				return n, nil
			case float64:
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return def, nil
				}
				return int64(x), nil
			case string:
				s := strings.TrimFunc(strings.ReplaceAll(x, "_", ""), isPySpace)
				if n, err := strconv.ParseInt(s, int(base), 64); err == nil {
					return n, nil
				}
				if f, ok := parsePyFloat(s); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
					return int64(f), nil
				}
			}
			return def, nil
		},
		"items": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			switch x := v.(type) {
			case *Dict:
				return gen(dictItems(x).Items, nil), nil
			case Undefined:
				return gen(nil, nil), nil
			}
			return gen(nil, typeErr("Can only get item pairs from a mapping.")), nil
		},
		"join": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			sep := str(arg(args, kw, 0, "d", ""))
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			attr := arg(args, kw, 1, "attribute", nil)
			var b strings.Builder
			for i, it := range items {
				if i > 0 {
					b.WriteString(sep)
				}
				if attr != nil {
					it, err = attrGetter(it, attr)
					if err != nil {
						return nil, err
					}
				}
				b.WriteString(str(it))
				if b.Len() > r.opts.MaxOutput {
					return nil, runtimeErr("OutputTooLarge", "string exceeds %d bytes", r.opts.MaxOutput)
				}
			}
			return b.String(), nil
		},
		"list": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return toList(v)
		},
		"lower": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return strings.ToLower(str(v)), nil
		},
		"upper": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return pyUpper(str(v)), nil
		},
		"map": lazy(fMap),
		"max": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return minMax(v, args, kw, 1)
		},
		"min": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return minMax(v, args, kw, -1)
		},
		"pprint": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) { return repr(v), nil },
		"reject": lazy(func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return selectOrReject(r, v, args, kw, false, false)
		}),
		"rejectattr": lazy(func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return selectOrReject(r, v, args, kw, true, false)
		}),
		"select": lazy(func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return selectOrReject(r, v, args, kw, false, true)
		}),
		"selectattr": lazy(func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return selectOrReject(r, v, args, kw, true, true)
		}),
		"replace": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			old := str(arg(args, kw, 0, "old", ""))
			nw := str(arg(args, kw, 1, "new", ""))
			n := int64(-1)
			if c := arg(args, kw, 2, "count", nil); c != nil {
				n, _ = asInt(c)
			}
			return pyReplace(r, str(v), old, nw, n)
		},
		"reverse": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			if s, ok := v.(string); ok {
				rs := []rune(s)
				for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
					rs[i], rs[j] = rs[j], rs[i]
				}
				return string(rs), nil
			}
			kind := "list"
			switch x := v.(type) {
			case *List:
				if x.isIterator() {
					kind = "list" // reversed() fails on iterators: jinja2 falls back to a list
				} else {
					kind = "list_reverseiterator"
				}
			case *Dict:
				kind = "dict_reversekeyiterator"
			}
			items, err := iterate(v)
			if err != nil {
				return nil, typeErr("argument must be iterable")
			}
			out := &List{Items: make([]Value, len(items))}
			if kind != "list" {
				out.Iter = kind
			}
			for i, it := range items {
				out.Items[len(items)-1-i] = it
			}
			return out, nil
		},
		"round": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			prec, _ := asInt(arg(args, kw, 0, "precision", int64(0)))
			method := str(arg(args, kw, 1, "method", "common"))
			f, ok := toNum(v)
			if !ok {
				return nil, typeErr("type %s doesn't define __round__ method", typeName(v))
			}
			if method != "common" && method != "ceil" && method != "floor" {
				return nil, runtimeErr("FilterArgumentError", "method must be common, ceil or floor")
			}
			p := math.Pow(10, float64(prec))
			var res float64
			switch method {
			case "ceil":
				res = math.Ceil(f*p) / p
			case "floor":
				res = math.Floor(f*p) / p
			default:
				if _, isInt := v.(int64); isInt && prec >= 0 {
					return v, nil
				}
				if prec >= 0 && prec <= 300 {
					// Python's round() works on the exact binary value, as
					// strconv does: 2.675 rounds to 2.67.
					res, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'f', int(prec), 64), 64)
				} else {
					res = math.RoundToEven(f*p) / p
				}
			}
			return res, nil
		},
		"safe": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) { return str(v), nil },
		"sort": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			rev := truthy(arg(args, kw, 0, "reverse", false))
			cs := truthy(arg(args, kw, 1, "case_sensitive", false))
			attr := arg(args, kw, 2, "attribute", nil)
			l, err := toList(v)
			if err != nil {
				return nil, err
			}
			var kerr error
			err = sortValues(l.Items, rev, func(x Value) Value {
				if attr != nil {
					var e error
					x, e = attrGetter(x, attr)
					if e != nil {
						kerr = e
					}
				}
				if !cs {
					return lowerIfStr(x)
				}
				return x
			})
			if kerr != nil {
				return nil, kerr
			}
			return l, err
		},
		"string": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) { return str(v), nil },
		"striptags": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			s := tagRe.ReplaceAllString(str(v), "")
			s = strings.Join(strings.FieldsFunc(s, isPySpace), " ")
			return htmlUnescape(s), nil
		},
		"sum": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			attr := arg(args, kw, 0, "attribute", nil)
			acc := arg(args, kw, 1, "start", int64(0))
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if attr != nil {
					if it, err = attrGetter(it, attr); err != nil {
						return nil, err
					}
				}
				if acc, err = r.binop("+", acc, it); err != nil {
					return nil, err
				}
			}
			return acc, nil
		},
		"title": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return jinjaTitle(str(v)), nil
		},
		"tojson": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return toJSON(v, jsonOpts{
				ensureASCII: truthy(arg(args, kw, 0, "ensure_ascii", false)),
				indent:      arg(args, kw, 1, "indent", nil),
				separators:  arg(args, kw, 2, "separators", nil),
				sortKeys:    truthy(arg(args, kw, 3, "sort_keys", false)),
			})
		},
		"trim": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			chars := arg(args, kw, 0, "chars", nil)
			return pyStrip(str(v), chars, true, true), nil
		},
		"truncate": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			if _, err := length(v); err != nil {
				return nil, err
			}
			if u, ok := v.(Undefined); ok {
				return nil, u.err()
			}
			s := str(v)
			n, _ := asInt(arg(args, kw, 0, "length", int64(255)))
			killwords := truthy(arg(args, kw, 1, "killwords", false))
			end := str(arg(args, kw, 2, "end", "..."))
			leeway, _ := asInt(arg(args, kw, 3, "leeway", int64(5)))
			rs := []rune(s)
			if ln, _ := length(v); int64(ln) <= n+leeway {
				return v, nil
			}
			cut := max(int(n)-utf8.RuneCountInString(end), 0)
			if killwords {
				return string(rs[:cut]) + end, nil
			}
			head := string(rs[:cut])
			if i := strings.LastIndex(head, " "); i >= 0 {
				head = head[:i]
			}
			return head + end, nil
		},
		"unique": lazy(func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			cs := truthy(arg(args, kw, 0, "case_sensitive", false))
			attr := arg(args, kw, 1, "attribute", nil)
			items, err := iterate(v)
			if err != nil {
				return nil, err
			}
			out := &List{}
			seen := map[dictKey]bool{}
			for _, it := range items {
				k := it
				if attr != nil {
					if k, err = attrGetter(it, attr); err != nil {
						return nil, err
					}
				}
				if !cs {
					k = lowerIfStr(k)
				}
				dk, err := keyOf(k)
				if err != nil {
					return nil, err
				}
				if seen[dk] {
					continue
				}
				seen[dk] = true
				out.Items = append(out.Items, it)
			}
			return out, nil
		}),
		"wordcount": func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
			return int64(len(wordRe.FindAllString(str(v), -1))), nil
		},
	}
	tests = map[string]testFunc{
		"boolean": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { _, ok := v.(bool); return ok, nil },
		"callable": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			_, ok := v.(callable)
			return ok, nil
		},
		"defined": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			_, ok := v.(Undefined)
			return !ok, nil
		},
		"undefined": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			_, ok := v.(Undefined)
			return ok, nil
		},
		"divisibleby": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			m, err := r.binop("%", v, arg(args, kw, 0, "num", nil))
			if err != nil {
				return false, err
			}
			return equal(m, int64(0)), nil
		},
		"escaped": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { return false, nil },
		"even": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			m, err := r.binop("%", v, int64(2))
			return err == nil && equal(m, int64(0)), err
		},
		"odd": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			m, err := r.binop("%", v, int64(2))
			return err == nil && equal(m, int64(1)), err
		},
		"false": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { return v == false, nil },
		"true":  func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { return v == true, nil },
		"filter": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			_, ok := filters[str(v)]
			return ok, nil
		},
		"test": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			_, ok := tests[str(v)]
			return ok, nil
		},
		"float": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { _, ok := v.(float64); return ok, nil },
		"integer": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			_, ok := v.(int64)
			return ok, nil
		},
		"number": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			_, ok := toNum(v)
			return ok, nil
		},
		"in": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			return contains(arg(args, kw, 0, "seq", nil), v)
		},
		"iterable": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			switch v.(type) {
			case string, *List, *Dict, Undefined:
				return true, nil
			}
			return false, nil
		},
		"sequence": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			switch x := v.(type) {
			case string, *Dict:
				return true, nil
			case *List:
				return x.plain() || x.Iter == "range", nil
			}
			return false, nil
		},
		"mapping": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { _, ok := v.(*Dict); return ok, nil },
		"string":  func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { _, ok := v.(string); return ok, nil },
		"none":    func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) { return v == nil, nil },
		"lower": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			s := str(v)
			return strings.ToLower(s) == s && hasCased(s), nil
		},
		"upper": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			s := str(v)
			return strings.ToUpper(s) == s && hasCased(s), nil
		},
		"sameas": func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			o := arg(args, kw, 0, "other", nil)
			switch v.(type) {
			case nil, bool:
				return v == o, nil
			case *List, *Dict, *Namespace:
				return v == o, nil
			}
			return equal(v, o) && typeName(v) == typeName(o), nil
		},
	}
	for name, op := range map[string]string{
		"eq": "==", "equalto": "==", "==": "==", "ne": "!=", "!=": "!=",
		"lt": "<", "lessthan": "<", "<": "<", "le": "<=", "<=": "<=",
		"gt": ">", "greaterthan": ">", ">": ">", "ge": ">=", ">=": ">=",
	} {
		op := op
		tests[name] = func(r *renderer, v Value, args []Value, kw *Dict) (bool, error) {
			return compare(op, v, arg(args, kw, 0, "other", nil))
		}
	}
	initGlobals()
}

var (
	tagRe  = regexp.MustCompile(`(?s)(<!--.*?-->|<[^>]*>)`)
	wordRe = regexp.MustCompile(`\w+`)
)

func hasCased(s string) bool {
	for _, r := range s {
		if unicode.IsUpper(r) || unicode.IsLower(r) {
			return true
		}
	}
	return false
}

// lazy makes a filter behave like jinja2's generator filters: the result is
// a generator, and an error surfaces only when it is consumed.
func lazy(f filterFunc) filterFunc {
	return func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
		out, err := f(r, v, args, kw)
		if err != nil {
			return gen(nil, err), nil
		}
		if l, ok := out.(*List); ok {
			return gen(l.Items, nil), nil
		}
		return out, nil
	}
}

func fLength(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	n, err := length(v)
	return int64(n), err
}

func fDefault(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	def := arg(args, kw, 0, "default_value", "")
	boolean := truthy(arg(args, kw, 1, "boolean", false))
	if _, ok := v.(Undefined); ok || (boolean && !truthy(v)) {
		return def, nil
	}
	return v, nil
}

func fEscape(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	s := str(v)
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s), nil
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&#34;", `"`, "&#39;", "'", "&amp;", "&").Replace(s)
}

func fBatch(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	n, _ := asInt(arg(args, kw, 0, "linecount", int64(1)))
	if n <= 0 {
		return nil, runtimeErr("ValueError", "batch size must be positive")
	}
	fill := arg(args, kw, 1, "fill_with", nil)
	hasFill := fill != nil
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	out := &List{}
	var cur []Value
	for _, it := range items {
		if int64(len(cur)) == n {
			out.Items = append(out.Items, &List{Items: cur})
			cur = nil
		}
		cur = append(cur, it)
	}
	if len(cur) > 0 {
		for hasFill && int64(len(cur)) < n {
			cur = append(cur, fill)
		}
		out.Items = append(out.Items, &List{Items: cur})
	}
	return out, nil
}

func dictItems(d *Dict) *List {
	l := &List{Items: make([]Value, d.Len())}
	for i, k := range d.keys {
		l.Items[i] = &List{Items: []Value{k, d.vals[i]}, Tuple: true}
	}
	return l
}

func lowerIfStr(v Value) Value {
	if s, ok := v.(string); ok {
		return strings.ToLower(s)
	}
	return v
}

// sortValues is a stable sort with Python's ordering; it errors where
// Python's sorted() would raise (mixed types).
func sortValues(items []Value, reverse bool, key func(Value) Value) error {
	keys := make([]Value, len(items))
	for i, it := range items {
		keys[i] = key(it)
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var err error
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := keys[idx[a]], keys[idx[b]]
		if reverse {
			x, y = y, x
		}
		c, e := order("<", x, y)
		if e != nil && err == nil {
			err = e
		}
		return c < 0
	})
	if err != nil {
		return err
	}
	sorted := make([]Value, len(items))
	for i, j := range idx {
		sorted[i] = items[j]
	}
	copy(items, sorted)
	return nil
}

// attrGetter resolves jinja2's dotted attribute paths ("a.b.0").
func attrGetter(v Value, attr Value) (Value, error) {
	s, ok := attr.(string)
	if !ok {
		return getitem(v, attr)
	}
	for _, part := range strings.Split(s, ".") {
		var err error
		if n, e := strconv.ParseInt(part, 10, 64); e == nil {
			v, err = getitem(v, n)
		} else {
			v, err = getitem(v, part)
		}
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

func fMap(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	out := &List{Items: make([]Value, 0, len(items))}
	if len(args) == 0 && kw != nil {
		if attr, ok := kw.Get("attribute"); ok {
			def, hasDef := kw.Get("default")
			for _, it := range items {
				x, err := attrGetter(it, attr)
				if err != nil {
					return nil, err
				}
				if _, undef := x.(Undefined); undef && hasDef {
					x = def
				}
				out.Items = append(out.Items, x)
			}
			return out, nil
		}
	}
	if len(args) == 0 {
		return nil, runtimeErr("FilterArgumentError", "map requires a filter argument")
	}
	name := str(args[0])
	f, ok := filters[name]
	if !ok {
		return nil, runtimeErr("TemplateRuntimeError", "No filter named %s.", reprString(name))
	}
	for _, it := range items {
		x, err := f(r, it, args[1:], kw)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, x)
	}
	return out, nil
}

func selectOrReject(r *renderer, v Value, args []Value, kw *Dict, byAttr, want bool) (Value, error) {
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	var attr Value
	if byAttr {
		if len(args) == 0 {
			return nil, typeErr("Missing parameter for attribute name")
		}
		attr, args = args[0], args[1:]
	}
	var t testFunc
	if len(args) > 0 {
		name := str(args[0])
		var ok bool
		t, ok = tests[name]
		if !ok {
			return nil, runtimeErr("TemplateRuntimeError", "No test named %s.", reprString(name))
		}
		args = args[1:]
	}
	out := &List{}
	for _, it := range items {
		x := it
		if byAttr {
			if x, err = attrGetter(it, attr); err != nil {
				return nil, err
			}
		}
		var ok bool
		if t == nil {
			ok = truthy(x)
		} else if ok, err = t(r, x, args, kw); err != nil {
			return nil, err
		}
		if ok == want {
			out.Items = append(out.Items, it)
		}
	}
	return out, nil
}

func minMax(v Value, args []Value, kw *Dict, sign int) (Value, error) {
	cs := truthy(arg(args, kw, 0, "case_sensitive", false))
	attr := arg(args, kw, 1, "attribute", nil)
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return Undefined{Hint: "No aggregated item, sequence was empty."}, nil
	}
	key := func(x Value) (Value, error) {
		if attr != nil {
			var err error
			if x, err = attrGetter(x, attr); err != nil {
				return nil, err
			}
		}
		if !cs {
			return lowerIfStr(x), nil
		}
		return x, nil
	}
	best := items[0]
	bk, err := key(best)
	if err != nil {
		return nil, err
	}
	for _, it := range items[1:] {
		k, err := key(it)
		if err != nil {
			return nil, err
		}
		op := "<"
		if sign > 0 {
			op = ">"
		}
		c, err := order(op, k, bk)
		if err != nil {
			return nil, err
		}
		if c*sign > 0 {
			best, bk = it, k
		}
	}
	return best, nil
}

func parsePyFloat(s string) (float64, bool) {
	s = strings.TrimFunc(strings.ReplaceAll(s, "_", ""), isPySpace)
	switch strings.ToLower(s) {
	case "inf", "+inf", "infinity", "+infinity":
		return math.Inf(1), true
	case "-inf", "-infinity":
		return math.Inf(-1), true
	case "nan", "+nan", "-nan":
		return math.NaN(), true
	}
	if s == "" || strings.ContainsAny(s, "xXpP") {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}

// percentFormat is Python's `fmt % args` for the common conversions.
func percentFormat(f string, args Value) (Value, error) {
	var list []Value
	var dict *Dict
	mapping := false
	switch a := args.(type) {
	case *List:
		if a.Tuple && a.plain() {
			list = a.Items
		} else {
			list = []Value{a}
			if a.plain() || a.Iter == "range" {
				mapping = true // has __getitem__: Python skips the unused-argument check
			}
		}
	case *Dict:
		dict = a
		list = []Value{a}
	default:
		list = []Value{a}
	}
	var b strings.Builder
	ai := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(f) {
			return nil, runtimeErr("ValueError", "incomplete format")
		}
		var val Value
		useKey := false
		if f[i] == '(' {
			j := strings.IndexByte(f[i:], ')')
			if j < 0 || dict == nil {
				return nil, typeErr("format requires a mapping")
			}
			key := f[i+1 : i+j]
			v, ok := dict.Get(key)
			if !ok {
				return nil, runtimeErr("KeyError", "%s", reprString(key))
			}
			val, useKey = v, true
			i += j + 1
		}
		spec := ""
		for i < len(f) && strings.IndexByte("#0- +0123456789.", f[i]) >= 0 {
			spec += string(f[i])
			i++
		}
		if digits := strings.FieldsFunc(spec, func(r rune) bool { return r < '0' || r > '9' }); len(digits) > 0 {
			for _, d := range digits {
				if n, err := strconv.Atoi(d); err != nil || n > 1<<20 {
					return nil, runtimeErr("ValueError", "format width or precision too large")
				}
			}
		}
		if i >= len(f) {
			return nil, runtimeErr("ValueError", "incomplete format")
		}
		conv := f[i]
		if conv == '%' {
			b.WriteByte('%')
			continue
		}
		if !useKey {
			if ai >= len(list) {
				return nil, typeErr("not enough arguments for format string")
			}
			val = list[ai]
			ai++
		}
		switch conv {
		case 's':
			b.WriteString(fmt.Sprintf("%"+spec+"s", str(val)))
		case 'r', 'a':
			b.WriteString(fmt.Sprintf("%"+spec+"s", repr(val)))
		case 'd', 'i', 'u':
			n, ok := asInt(val)
			if !ok {
				f, fok := val.(float64)
				if !fok {
					return nil, typeErr("%%%c format: a real number is required, not %s", conv, typeName(val))
				}
				n = int64(f)
			}
			b.WriteString(fmt.Sprintf("%"+spec+"d", n))
		case 'f', 'F', 'e', 'E', 'g', 'G':
			x, ok := toNum(val)
			if !ok {
				return nil, typeErr("must be real number, not %s", typeName(val))
			}
			if !strings.Contains(spec, ".") {
				spec += ".6"
			}
			b.WriteString(fmt.Sprintf("%"+spec+string(conv), x))
		case 'x', 'X', 'o':
			n, ok := asInt(val)
			if !ok {
				return nil, typeErr("%%%c format: an integer is required, not %s", conv, typeName(val))
			}
			b.WriteString(fmt.Sprintf("%"+spec+string(conv), n))
		case 'c':
			if n, ok := asInt(val); ok {
				b.WriteRune(rune(n))
			} else {
				b.WriteString(str(val))
			}
		default:
			return nil, runtimeErr("ValueError", "unsupported format character %s (0x%x) at index %d", reprString(string(conv)), conv, i)
		}
	}
	if dict == nil && !mapping && ai < len(list) {
		return nil, typeErr("not all arguments converted during string formatting")
	}
	return b.String(), nil
}
