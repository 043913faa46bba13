package jinja

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

var globals *scope

func initGlobals() {
	globals = &scope{vars: map[string]Value{
		"range":           &builtin{n: "range", f: gRange},
		"dict":            &builtin{n: "dict", f: gDict},
		"namespace":       &builtin{n: "namespace", f: gNamespace},
		"raise_exception": &builtin{n: "raise_exception", f: gRaise},
		"strftime_now":    &builtin{n: "strftime_now", f: gStrftimeNow},
		"cycler":          &builtin{n: "cycler", f: gCycler},
		"joiner":          &builtin{n: "joiner", f: gJoiner},
	}}
}

func gRange(r *renderer, args []Value, kw *Dict) (Value, error) {
	var ns [3]int64
	ns[2] = 1
	for i, a := range args {
		n, ok := asInt(a)
		if !ok {
			return nil, typeErr("'%s' object cannot be interpreted as an integer", typeName(a))
		}
		if i < 3 {
			ns[i] = n
		}
	}
	var start, stop, step int64
	switch len(args) {
	case 1:
		start, stop, step = 0, ns[0], 1
	case 2:
		start, stop, step = ns[0], ns[1], 1
	case 3:
		start, stop, step = ns[0], ns[1], ns[2]
	default:
		return nil, typeErr("range expected at most 3 arguments, got %d", len(args))
	}
	if step == 0 {
		return nil, runtimeErr("ValueError", "range() arg 3 must not be zero")
	}
	var count float64
	if step > 0 && stop > start {
		count = math.Ceil((float64(stop) - float64(start)) / float64(step))
	} else if step < 0 && stop < start {
		count = math.Ceil((float64(start) - float64(stop)) / -float64(step))
	}
	if count > maxRange {
		return nil, runtimeErr("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", maxRange)
	}
	out := &List{Items: make([]Value, 0, int(count)), Iter: "range", rng: [3]int64{start, stop, step}}
	for i := start; (step > 0 && i < stop) || (step < 0 && i > stop); i += step {
		out.Items = append(out.Items, i)
	}
	return out, nil
}

func gDict(r *renderer, args []Value, kw *Dict) (Value, error) {
	d := NewDict()
	if len(args) > 1 {
		return nil, typeErr("dict expected at most 1 argument, got %d", len(args))
	}
	if len(args) == 1 {
		switch x := args[0].(type) {
		case *Dict:
			d = x.copy()
		default:
			items, err := iterate(x)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				pair, err := iterate(it)
				if err != nil || len(pair) != 2 {
					return nil, runtimeErr("ValueError", "dictionary update sequence element has wrong length")
				}
				if err := d.Set(pair[0], pair[1]); err != nil {
					return nil, err
				}
			}
		}
	}
	if kw != nil {
		for i, k := range kw.keys {
			d.Set(k, kw.vals[i])
		}
	}
	return d, nil
}

func gNamespace(r *renderer, args []Value, kw *Dict) (Value, error) {
	d, err := gDict(r, args, kw)
	if err != nil {
		return nil, err
	}
	return &Namespace{D: d.(*Dict)}, nil
}

func gRaise(r *renderer, args []Value, kw *Dict) (Value, error) {
	msg := ""
	if len(args) > 0 {
		msg = str(args[0])
	}
	return nil, &Error{Kind: "TemplateError", Msg: msg}
}

func gStrftimeNow(r *renderer, args []Value, kw *Dict) (Value, error) {
	if len(args) != 1 {
		return nil, typeErr("strftime_now() takes exactly one argument (%d given)", len(args))
	}
	f, ok := args[0].(string)
	if !ok {
		return nil, typeErr("strftime() argument 1 must be str, not %s", typeName(args[0]))
	}
	return Strftime(r.opts.Now(), f), nil
}

func gCycler(r *renderer, args []Value, kw *Dict) (Value, error) {
	if len(args) == 0 {
		return nil, runtimeErr("RuntimeError", "at least one item has to be provided")
	}
	pos := 0
	d := NewDict()
	d.SetStr("next", &builtin{n: "next", f: func(r *renderer, _ []Value, _ *Dict) (Value, error) {
		v := args[pos]
		pos = (pos + 1) % len(args)
		return v, nil
	}})
	d.SetStr("reset", &builtin{n: "reset", f: func(r *renderer, _ []Value, _ *Dict) (Value, error) {
		pos = 0
		return nil, nil
	}})
	return &Namespace{D: d}, nil
}

func gJoiner(r *renderer, args []Value, kw *Dict) (Value, error) {
	sep := str(arg(args, kw, 0, "sep", ", "))
	used := false
	return &builtin{n: "joiner", f: func(r *renderer, _ []Value, _ *Dict) (Value, error) {
		if !used {
			used = true
			return "", nil
		}
		return sep, nil
	}}, nil
}

var (
	weekdays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	months   = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
)

// Strftime formats t like Python's datetime.strftime in the C locale,
// including glibc's "%-d" no-padding flag.
func Strftime(t time.Time, f string) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 >= len(f) {
			b.WriteByte(c)
			continue
		}
		i++
		pad := true
		if f[i] == '-' && i+1 < len(f) {
			pad = false
			i++
		}
		num := func(n, width int) {
			s := strconv.Itoa(n)
			if pad {
				for len(s) < width {
					s = "0" + s
				}
			}
			b.WriteString(s)
		}
		switch f[i] {
		case 'Y':
			b.WriteString(strconv.Itoa(t.Year()))
		case 'y':
			num(t.Year()%100, 2)
		case 'm':
			num(int(t.Month()), 2)
		case 'd':
			num(t.Day(), 2)
		case 'e':
			s := strconv.Itoa(t.Day())
			if pad && len(s) < 2 {
				s = " " + s
			}
			b.WriteString(s)
		case 'H':
			num(t.Hour(), 2)
		case 'I':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			num(h, 2)
		case 'M':
			num(t.Minute(), 2)
		case 'S':
			num(t.Second(), 2)
		case 'f':
			fmt.Fprintf(&b, "%06d", t.Nanosecond()/1000)
		case 'p':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'B':
			b.WriteString(months[t.Month()-1])
		case 'b', 'h':
			b.WriteString(months[t.Month()-1][:3])
		case 'A':
			b.WriteString(weekdays[t.Weekday()])
		case 'a':
			b.WriteString(weekdays[t.Weekday()][:3])
		case 'j':
			num(t.YearDay(), 3)
		case 'w':
			b.WriteString(strconv.Itoa(int(t.Weekday())))
		case 'u':
			wd := int(t.Weekday())
			if wd == 0 {
				wd = 7
			}
			b.WriteString(strconv.Itoa(wd))
		case 'U':
			num((t.YearDay()+6-int(t.Weekday()))/7, 2)
		case 'W':
			num((t.YearDay()+6-(int(t.Weekday())+6)%7)/7, 2)
		case 'V':
			_, w := t.ISOWeek()
			num(w, 2)
		case 'G':
			y, _ := t.ISOWeek()
			b.WriteString(strconv.Itoa(y))
		case 'Z', 'z':
			// strftime_now formats a naive datetime.now(): no zone.
		case 'P':
			if t.Hour() < 12 {
				b.WriteString("am")
			} else {
				b.WriteString("pm")
			}
		case 'k', 'l':
			h := t.Hour()
			if f[i] == 'l' {
				h %= 12
				if h == 0 {
					h = 12
				}
			}
			s := strconv.Itoa(h)
			if pad && len(s) < 2 {
				s = " " + s
			}
			b.WriteString(s)
		case 'C':
			num(t.Year()/100, 2)
		case 'g':
			y, _ := t.ISOWeek()
			num(y%100, 2)
		case 'c':
			b.WriteString(Strftime(t, "%a %b %e %H:%M:%S %Y"))
		case 'x':
			b.WriteString(Strftime(t, "%m/%d/%y"))
		case 'X':
			b.WriteString(Strftime(t, "%H:%M:%S"))
		case 'D':
			b.WriteString(Strftime(t, "%m/%d/%y"))
		case 'F':
			b.WriteString(Strftime(t, "%Y-%m-%d"))
		case 'T':
			b.WriteString(Strftime(t, "%H:%M:%S"))
		case 'R':
			b.WriteString(Strftime(t, "%H:%M"))
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case '%':
			b.WriteByte('%')
		default:
			b.WriteByte('%')
			if !pad {
				b.WriteByte('-')
			}
			b.WriteByte(f[i])
		}
	}
	return b.String()
}

// JSON, as Hugging Face's tojson filter calls Python's json.dumps.

type jsonOpts struct {
	ensureASCII bool
	indent      Value
	separators  Value
	sortKeys    bool
}

func toJSON(v Value, o jsonOpts) (Value, error) {
	itemSep, keySep := ", ", ": "
	ind := ""
	hasIndent := false
	switch x := o.indent.(type) {
	case nil:
	case string:
		ind, hasIndent = x, true
	case int64, bool:
		n, _ := asInt(x)
		ind, hasIndent = strings.Repeat(" ", int(max(min(n, 1<<10), 0))), true
	default:
		return nil, typeErr("indent must be an int or str, not %s", typeName(x))
	}
	if hasIndent {
		itemSep = ","
	}
	if o.separators != nil {
		items, err := iterate(o.separators)
		if err != nil || len(items) != 2 {
			return nil, runtimeErr("ValueError", "separators must be an (item_separator, key_separator) pair")
		}
		itemSep, keySep = str(items[0]), str(items[1])
	}
	var b strings.Builder
	w := &jsonWriter{b: &b, o: o, itemSep: itemSep, keySep: keySep, ind: ind, hasIndent: hasIndent}
	if err := w.write(v, 0); err != nil {
		return nil, err
	}
	return b.String(), nil
}

type jsonWriter struct {
	b                    *strings.Builder
	o                    jsonOpts
	itemSep, keySep, ind string
	hasIndent            bool
}

func (w *jsonWriter) newline(level int) {
	if w.hasIndent {
		w.b.WriteByte('\n')
		for i := 0; i < level; i++ {
			w.b.WriteString(w.ind)
		}
	}
}

func (w *jsonWriter) write(v Value, level int) error {
	if level > 500 {
		return runtimeErr("RecursionError", "maximum recursion depth exceeded while encoding a JSON object")
	}
	if w.b.Len() > defaultMaxOutput {
		return runtimeErr("OutputTooLarge", "JSON exceeds %d bytes", defaultMaxOutput)
	}
	switch x := v.(type) {
	case nil:
		w.b.WriteString("null")
	case bool:
		if x {
			w.b.WriteString("true")
		} else {
			w.b.WriteString("false")
		}
	case int64:
		w.b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		w.b.WriteString(jsonFloat(x))
	case string:
		w.b.WriteString(jsonString(x, w.o.ensureASCII))
	case *List:
		if !x.plain() {
			return typeErr("Object of type %s is not JSON serializable", x.Iter)
		}
		if len(x.Items) == 0 {
			w.b.WriteString("[]")
			return nil
		}
		w.b.WriteByte('[')
		for i, it := range x.Items {
			if i > 0 {
				w.b.WriteString(w.itemSep)
			}
			w.newline(level + 1)
			if err := w.write(it, level+1); err != nil {
				return err
			}
		}
		w.newline(level)
		w.b.WriteByte(']')
	case *Dict:
		if x.Len() == 0 {
			w.b.WriteString("{}")
			return nil
		}
		keys := make([]string, x.Len())
		for i, k := range x.keys {
			switch kk := k.(type) {
			case string:
				keys[i] = kk
			case nil:
				keys[i] = "null"
			case bool:
				keys[i] = map[bool]string{true: "true", false: "false"}[kk]
			case int64:
				keys[i] = strconv.FormatInt(kk, 10)
			case float64:
				keys[i] = jsonFloat(kk)
			default:
				return typeErr("keys must be str, int, float, bool or None, not %s", typeName(k))
			}
		}
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		if w.o.sortKeys {
			sort.SliceStable(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
		}
		w.b.WriteByte('{')
		for n, i := range order {
			if n > 0 {
				w.b.WriteString(w.itemSep)
			}
			w.newline(level + 1)
			w.b.WriteString(jsonString(keys[i], w.o.ensureASCII))
			w.b.WriteString(w.keySep)
			if err := w.write(x.vals[i], level+1); err != nil {
				return err
			}
		}
		w.newline(level)
		w.b.WriteByte('}')
	default:
		cls := typeName(v)
		if _, ok := v.(*Namespace); ok {
			cls = "Namespace"
		}
		return typeErr("Object of type %s is not JSON serializable", cls)
	}
	return nil
}

func jsonFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return formatFloat(f)
}

// jsonString is json.dumps of a str.
func jsonString(s string, ensureASCII bool) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				if c < 0x20 || (ensureASCII && c == 0x7f) {
					fmt.Fprintf(&b, `\u%04x`, c)
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if ensureASCII {
			if r >= 0x10000 {
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte('"')
	return b.String()
}
