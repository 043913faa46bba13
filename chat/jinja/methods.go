package jinja

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// method builds a bound method value.
func method(name string, f func(r *renderer, args []Value, kw *Dict) (Value, error)) *builtin {
	return &builtin{n: name, f: f}
}

// unsafe mirrors jinja2's ImmutableSandboxedEnvironment, which Hugging Face
// uses: methods that mutate lists and dicts are blocked.
func unsafe(obj Value, name string) Undefined {
	return Undefined{
		Hint: fmt.Sprintf("access to attribute %s of %s object is unsafe.", reprString(name), reprString(typeName(obj))),
		Exc:  "SecurityError",
	}
}

func dictMethod(d *Dict, name string) Value {
	switch name {
	case "get":
		return method("get", func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) == 0 || len(args) > 2 {
				return nil, typeErr("get expected 1 or 2 arguments, got %d", len(args))
			}
			if _, err := keyOf(args[0]); err != nil {
				return nil, err
			}
			if v, ok := d.Get(args[0]); ok {
				return v, nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return nil, nil
		})
	case "items":
		return method("items", func(r *renderer, args []Value, kw *Dict) (Value, error) {
			l := dictItems(d)
			l.Iter = "dict_items"
			return l, nil
		})
	case "keys":
		return method("keys", func(r *renderer, args []Value, kw *Dict) (Value, error) {
			return &List{Items: append([]Value(nil), d.keys...), Iter: "dict_keys"}, nil
		})
	case "values":
		return method("values", func(r *renderer, args []Value, kw *Dict) (Value, error) {
			return &List{Items: append([]Value(nil), d.vals...), Iter: "dict_values"}, nil
		})
	case "copy":
		return method("copy", func(r *renderer, args []Value, kw *Dict) (Value, error) { return d.copy(), nil })
	case "clear", "pop", "popitem", "setdefault", "update":
		return unsafe(d, name)
	}
	return nil
}

func listMethod(l *List, name string) Value {
	if !l.plain() && l.Iter != "range" {
		return nil
	}
	switch name {
	case "index":
		return method("index", func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) == 0 {
				return nil, typeErr("index expected at least 1 argument, got 0")
			}
			for i, it := range l.Items {
				if equal(it, args[0]) {
					return int64(i), nil
				}
			}
			return nil, runtimeErr("ValueError", "%s is not in list", repr(args[0]))
		})
	case "count":
		return method("count", func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) != 1 {
				return nil, typeErr("count() takes exactly one argument (%d given)", len(args))
			}
			n := int64(0)
			for _, it := range l.Items {
				if equal(it, args[0]) {
					n++
				}
			}
			return n, nil
		})
	case "copy":
		if l.Tuple {
			return nil
		}
		return method("copy", func(r *renderer, args []Value, kw *Dict) (Value, error) {
			return &List{Items: append([]Value(nil), l.Items...)}, nil
		})
	case "append", "clear", "pop", "reverse", "insert", "sort", "extend", "remove":
		if l.Tuple {
			return nil
		}
		return unsafe(l, name)
	}
	return nil
}

func strMethod(s string, name string) Value {
	switch name {
	case "strip", "lstrip", "rstrip":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			var chars Value
			if len(args) > 0 {
				chars = args[0]
				if _, ok := chars.(string); !ok && chars != nil {
					return nil, typeErr("%s arg must be None or str", name)
				}
			}
			return pyStrip(s, chars, name != "rstrip", name != "lstrip"), nil
		})
	case "upper":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) { return pyUpper(s), nil })
	case "lower":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) { return strings.ToLower(s), nil })
	case "title":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) { return pyTitle(s), nil })
	case "capitalize":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) { return pyCapitalize(s), nil })
	case "swapcase":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			return strings.Map(func(c rune) rune {
				if unicode.IsUpper(c) {
					return unicode.ToLower(c)
				}
				return unicode.ToUpper(c)
			}, s), nil
		})
	case "startswith", "endswith":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) == 0 {
				return nil, typeErr("%s() takes at least 1 argument (0 given)", name)
			}
			sub := s
			if len(args) > 1 {
				v, err := slice(s, args[1], arg(args, nil, 2, "", nil), nil)
				if err != nil {
					return nil, err
				}
				sub = v.(string)
			}
			var cands []Value
			switch p := args[0].(type) {
			case string:
				cands = []Value{p}
			case *List:
				if !p.Tuple {
					return nil, typeErr("%s first arg must be str or a tuple of str, not list", name)
				}
				cands = p.Items
			default:
				return nil, typeErr("%s first arg must be str or a tuple of str, not %s", name, typeName(p))
			}
			for _, c := range cands {
				cs, ok := c.(string)
				if !ok {
					return nil, typeErr("tuple for %s must only contain str, not %s", name, typeName(c))
				}
				if name == "startswith" && strings.HasPrefix(sub, cs) || name == "endswith" && strings.HasSuffix(sub, cs) {
					return true, nil
				}
			}
			return false, nil
		})
	case "split", "rsplit":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			sepV := arg(args, kw, 0, "sep", nil)
			maxV := arg(args, kw, 1, "maxsplit", int64(-1))
			n, ok := asInt(maxV)
			if !ok {
				return nil, typeErr("'%s' object cannot be interpreted as an integer", typeName(maxV))
			}
			if sepV == nil {
				return pySplitWhitespace(s, int(max(min(n, 1<<30), -1)), name == "rsplit"), nil
			}
			sep, ok := sepV.(string)
			if !ok {
				return nil, typeErr("must be str or None, not %s", typeName(sepV))
			}
			if sep == "" {
				return nil, runtimeErr("ValueError", "empty separator")
			}
			var parts []string
			switch {
			case n < 0:
				parts = strings.Split(s, sep)
			case name == "split":
				parts = strings.SplitN(s, sep, int(min(n, 1<<30))+1)
			default:
				parts = rsplitN(s, sep, int(min(n, 1<<30)))
			}
			out := &List{Items: make([]Value, len(parts))}
			for i, p := range parts {
				out.Items[i] = p
			}
			return out, nil
		})
	case "splitlines":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			keep := truthy(arg(args, kw, 0, "keepends", false))
			out := &List{}
			for _, ln := range pySplitLinesKeep(s) {
				if !keep {
					ln = strings.TrimRight(ln, "\r\n\v\f\x1c\x1d\x1e\u0085\u2028\u2029")
				}
				out.Items = append(out.Items, ln)
			}
			return out, nil
		})
	case "replace":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) < 2 {
				return nil, typeErr("replace expected at least 2 arguments, got %d", len(args))
			}
			old, ok1 := args[0].(string)
			nw, ok2 := args[1].(string)
			if !ok1 || !ok2 {
				return nil, typeErr("replace() argument must be str")
			}
			n := int64(-1)
			if len(args) > 2 {
				n, _ = asInt(args[2])
			}
			return pyReplace(r, s, old, nw, n)
		})
	case "find", "rfind", "index", "rindex", "count":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) == 0 {
				return nil, typeErr("%s() takes at least 1 argument (0 given)", name)
			}
			sub, ok := args[0].(string)
			if !ok {
				return nil, typeErr("must be str, not %s", typeName(args[0]))
			}
			if name == "count" {
				if sub == "" {
					return int64(utf8.RuneCountInString(s) + 1), nil
				}
				return int64(strings.Count(s, sub)), nil
			}
			var i int
			if name == "find" || name == "index" {
				i = strings.Index(s, sub)
			} else {
				i = strings.LastIndex(s, sub)
			}
			if i < 0 {
				if name == "index" || name == "rindex" {
					return nil, runtimeErr("ValueError", "substring not found")
				}
				return int64(-1), nil
			}
			return int64(utf8.RuneCountInString(s[:i])), nil
		})
	case "join":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			if len(args) != 1 {
				return nil, typeErr("join() takes exactly one argument (%d given)", len(args))
			}
			items, err := iterate(args[0])
			if err != nil {
				return nil, typeErr("can only join an iterable")
			}
			parts := make([]string, len(items))
			for i, it := range items {
				p, ok := it.(string)
				if !ok {
					return nil, typeErr("sequence item %d: expected str instance, %s found", i, typeName(it))
				}
				parts[i] = p
			}
			return strings.Join(parts, s), nil
		})
	case "format":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) { return strFormat(s, args, kw) })
	case "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum", "isspace", "islower", "isupper", "istitle":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) { return strIs(s, name), nil })
	case "zfill":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			w, _ := asInt(arg(args, kw, 0, "width", int64(0)))
			n := utf8.RuneCountInString(s)
			if int(w) <= n {
				return s, nil
			}
			pad := strings.Repeat("0", int(min(w, 1<<20))-n)
			if s != "" && (s[0] == '-' || s[0] == '+') {
				return s[:1] + pad + s[1:], nil
			}
			return pad + s, nil
		})
	case "center", "ljust", "rjust":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			w, _ := asInt(arg(args, kw, 0, "width", int64(0)))
			fill := str(arg(args, kw, 1, "fillchar", " "))
			w = min(w, 1<<20)
			n := utf8.RuneCountInString(s)
			if int(w) <= n {
				return s, nil
			}
			total := int(w) - n
			switch name {
			case "ljust":
				return s + strings.Repeat(fill, total), nil
			case "rjust":
				return strings.Repeat(fill, total) + s, nil
			}
			left := total/2 + (total & int(w) & 1)
			return strings.Repeat(fill, left) + s + strings.Repeat(fill, total-left), nil
		})
	case "partition", "rpartition":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			sep := str(arg(args, kw, 0, "sep", ""))
			if sep == "" {
				return nil, runtimeErr("ValueError", "empty separator")
			}
			var i int
			if name == "partition" {
				i = strings.Index(s, sep)
			} else {
				i = strings.LastIndex(s, sep)
			}
			if i < 0 {
				if name == "partition" {
					return &List{Items: []Value{s, "", ""}, Tuple: true}, nil
				}
				return &List{Items: []Value{"", "", s}, Tuple: true}, nil
			}
			return &List{Items: []Value{s[:i], sep, s[i+len(sep):]}, Tuple: true}, nil
		})
	case "removeprefix", "removesuffix":
		return method(name, func(r *renderer, args []Value, kw *Dict) (Value, error) {
			p := str(arg(args, kw, 0, "", ""))
			if name == "removeprefix" {
				return strings.TrimPrefix(s, p), nil
			}
			return strings.TrimSuffix(s, p), nil
		})
	case "encode", "decode":
		return nil
	}
	return nil
}

func strIs(s, name string) bool {
	if s == "" {
		return false
	}
	switch name {
	case "islower", "isupper":
		cased := false
		for _, c := range s {
			if unicode.IsUpper(c) || unicode.IsTitle(c) {
				if name == "islower" {
					return false
				}
				cased = true
			} else if unicode.IsLower(c) {
				if name == "isupper" {
					return false
				}
				cased = true
			}
		}
		return cased
	case "istitle":
		return pyTitle(s) == s && hasCased(s)
	}
	for _, c := range s {
		var ok bool
		switch name {
		case "isdigit", "isdecimal":
			ok = unicode.IsDigit(c)
		case "isnumeric":
			ok = unicode.IsNumber(c)
		case "isalpha":
			ok = unicode.IsLetter(c)
		case "isalnum":
			ok = unicode.IsLetter(c) || unicode.IsNumber(c)
		case "isspace":
			ok = isPySpace(c)
		}
		if !ok {
			return false
		}
	}
	return true
}

func rsplitN(s, sep string, n int) []string {
	var parts []string
	for n > 0 {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		parts = append(parts, s[i+len(sep):])
		s = s[:i]
		n--
	}
	parts = append(parts, s)
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return parts
}

// pySplitWhitespace is str.split() / str.rsplit() without a separator.
func pySplitWhitespace(s string, n int, fromRight bool) *List {
	out := &List{}
	if !fromRight {
		for n != 0 {
			s = strings.TrimLeftFunc(s, isPySpace)
			if s == "" {
				return out
			}
			i := strings.IndexFunc(s, isPySpace)
			if i < 0 {
				out.Items = append(out.Items, s)
				return out
			}
			out.Items = append(out.Items, s[:i])
			s = s[i:]
			n--
		}
		s = strings.TrimLeftFunc(s, isPySpace)
		if s != "" {
			out.Items = append(out.Items, s)
		}
		return out
	}
	var rev []Value
	for n != 0 {
		s = strings.TrimRightFunc(s, isPySpace)
		if s == "" {
			break
		}
		i := strings.LastIndexFunc(s, isPySpace)
		if i < 0 {
			rev = append(rev, s)
			s = ""
			break
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		rev = append(rev, s[i+w:])
		s = s[:i]
		n--
	}
	s = strings.TrimRightFunc(s, isPySpace)
	if s != "" {
		rev = append(rev, s)
	}
	for i := len(rev) - 1; i >= 0; i-- {
		out.Items = append(out.Items, rev[i])
	}
	return out
}

func pyStrip(s string, chars Value, left, right bool) string {
	f := isPySpace
	if cs, ok := chars.(string); ok {
		f = func(r rune) bool { return strings.ContainsRune(cs, r) }
	}
	if left {
		s = strings.TrimLeftFunc(s, f)
	}
	if right {
		s = strings.TrimRightFunc(s, f)
	}
	return s
}

func pyUpper(s string) string {
	s = strings.ToUpper(s)
	if strings.ContainsRune(s, 'ß') {
		s = strings.ReplaceAll(s, "ß", "SS")
	}
	return s
}

func pyCapitalize(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return s
	}
	return string(unicode.ToTitle(r)) + strings.ToLower(s[n:])
}

// pyTitle is Python's str.title(): a letter after a non-letter is
// upper-cased, other letters lower-cased.
func pyTitle(s string) string {
	var b strings.Builder
	prevCased := false
	for _, c := range s {
		if unicode.IsLetter(c) {
			if prevCased {
				b.WriteRune(unicode.ToLower(c))
			} else {
				b.WriteRune(unicode.ToTitle(c))
			}
			prevCased = true
		} else {
			b.WriteRune(c)
			prevCased = false
		}
	}
	return b.String()
}

// jinjaTitle is jinja2's title filter: words start after -, whitespace or
// opening brackets.
func jinjaTitle(s string) string {
	var b strings.Builder
	start := true
	for _, c := range s {
		if c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || isPySpace(c) {
			b.WriteRune(c)
			start = true
			continue
		}
		if start {
			b.WriteRune(unicode.ToTitle(c))
		} else {
			b.WriteRune(unicode.ToLower(c))
		}
		start = false
	}
	return b.String()
}

func pyCenter(s string, w int) string {
	n := utf8.RuneCountInString(s)
	if w <= n {
		return s
	}
	total := w - n
	left := total / 2
	if total%2 == 1 && w%2 == 1 {
		left++
	}
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", total-left)
}

func pyReplace(r *renderer, s, old, nw string, n int64) (Value, error) {
	if n < 0 {
		n = -1
	}
	if old == "" {
		// Python inserts nw between every character.
		cnt := int64(utf8.RuneCountInString(s) + 1)
		if n >= 0 && n < cnt {
			cnt = n
		}
		if int64(len(nw))*cnt+int64(len(s)) > int64(r.opts.MaxOutput) {
			return nil, runtimeErr("OutputTooLarge", "string exceeds %d bytes", r.opts.MaxOutput)
		}
		var b strings.Builder
		i := int64(0)
		for _, c := range s {
			if i < cnt {
				b.WriteString(nw)
				i++
			}
			b.WriteRune(c)
		}
		if i < cnt {
			b.WriteString(nw)
		}
		return b.String(), nil
	}
	if len(nw) > len(old) {
		c := int64(strings.Count(s, old))
		if n >= 0 && n < c {
			c = n
		}
		if int64(len(s))+c*int64(len(nw)-len(old)) > int64(r.opts.MaxOutput) {
			return nil, runtimeErr("OutputTooLarge", "string exceeds %d bytes", r.opts.MaxOutput)
		}
	}
	return strings.Replace(s, old, nw, int(max(min(n, 1<<40), -1))), nil
}

// pySplitLinesKeep splits after each line break, keeping the breaks, as
// str.splitlines(keepends=True).
func pySplitLinesKeep(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); {
		c, w := utf8.DecodeRuneInString(s[i:])
		switch c {
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			out = append(out, s[start:i+w])
			start = i + w
		case '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				w = 2
			}
			out = append(out, s[start:i+w])
			start = i + w
		}
		i += w
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// pySplitLines is str.splitlines().
func pySplitLines(s string) []string {
	keep := pySplitLinesKeep(s)
	for i, ln := range keep {
		keep[i] = strings.TrimRight(ln, "\r\n\v\f\x1c\x1d\x1e\u0085\u2028\u2029")
	}
	return keep
}

// strFormat is str.format with positional and named fields and the common
// format specs.
func strFormat(s string, args []Value, kw *Dict) (Value, error) {
	var b strings.Builder
	auto := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '}' {
			if i+1 < len(s) && s[i+1] == '}' {
				i++
			}
			b.WriteByte('}')
			continue
		}
		if c != '{' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			b.WriteByte('{')
			i++
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, runtimeErr("ValueError", "Single '{' encountered in format string")
		}
		field := s[i+1 : i+j]
		i += j
		spec := ""
		if k := strings.IndexByte(field, ':'); k >= 0 {
			field, spec = field[:k], field[k+1:]
		}
		conv := ""
		if k := strings.IndexByte(field, '!'); k >= 0 {
			field, conv = field[:k], field[k+1:]
		}
		var v Value
		if field == "" {
			if auto >= len(args) {
				return nil, runtimeErr("IndexError", "Replacement index %d out of range for positional args tuple", auto)
			}
			v = args[auto]
			auto++
		} else if n, err := strconv.Atoi(field); err == nil {
			if n >= len(args) {
				return nil, runtimeErr("IndexError", "Replacement index %d out of range for positional args tuple", n)
			}
			v = args[n]
		} else {
			var ok bool
			if kw != nil {
				v, ok = kw.Get(field)
			}
			if !ok {
				return nil, runtimeErr("KeyError", "%s", reprString(field))
			}
		}
		if conv == "r" {
			v = repr(v)
		} else if conv == "s" {
			v = str(v)
		}
		out, err := formatSpec(v, spec)
		if err != nil {
			return nil, err
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

func formatSpec(v Value, spec string) (string, error) {
	if spec == "" {
		return str(v), nil
	}
	// [[fill]align][sign][width][.precision][type]
	fill, align := " ", byte(0)
	if len(spec) >= 2 && strings.IndexByte("<>^=", spec[1]) >= 0 {
		fill, align, spec = spec[:1], spec[1], spec[2:]
	} else if spec != "" && strings.IndexByte("<>^=", spec[0]) >= 0 {
		align, spec = spec[0], spec[1:]
	}
	if strings.HasPrefix(spec, "+") || strings.HasPrefix(spec, "-") || strings.HasPrefix(spec, " ") {
		spec = spec[1:] // sign option: numbers here are printed as Python does by default
	}
	if strings.HasPrefix(spec, "0") && align == 0 {
		fill, align = "0", '='
	}
	i := 0
	for i < len(spec) && (spec[i] >= '0' && spec[i] <= '9') {
		i++
	}
	width, _ := strconv.Atoi(spec[:i])
	spec = spec[i:]
	prec := -1
	if strings.HasPrefix(spec, ".") {
		j := 1
		for j < len(spec) && spec[j] >= '0' && spec[j] <= '9' {
			j++
		}
		prec, _ = strconv.Atoi(spec[1:j])
		spec = spec[j:]
	}
	var out string
	switch spec {
	case "f", "F", "e", "g", "%":
		f, ok := toNum(v)
		if !ok {
			return "", runtimeErr("ValueError", "Unknown format code '%s' for object of type '%s'", spec, typeName(v))
		}
		if prec < 0 {
			prec = 6
		}
		if spec == "%" {
			out = strconv.FormatFloat(f*100, 'f', prec, 64) + "%"
		} else {
			out = strconv.FormatFloat(f, spec[0]|0x20, prec, 64)
		}
	case "d":
		n, ok := asInt(v)
		if !ok {
			return "", runtimeErr("ValueError", "Unknown format code 'd' for object of type '%s'", typeName(v))
		}
		out = strconv.FormatInt(n, 10)
	case "", "s":
		out = str(v)
		if prec >= 0 {
			if rs := []rune(out); len(rs) > prec {
				out = string(rs[:prec])
			}
		}
	default:
		return "", runtimeErr("ValueError", "Unsupported format spec %s", reprString(spec))
	}
	n := utf8.RuneCountInString(out)
	width = min(width, 1<<20)
	if n >= width {
		return out, nil
	}
	pad := width - n
	if align == 0 {
		align = '<'
		if _, ok := toNum(v); ok {
			align = '>'
		}
	}
	switch align {
	case '=':
		if out != "" && (out[0] == '-' || out[0] == '+') {
			return out[:1] + strings.Repeat(fill, pad) + out[1:], nil
		}
		return strings.Repeat(fill, pad) + out, nil
	case '>':
		return strings.Repeat(fill, pad) + out, nil
	case '^':
		return strings.Repeat(fill, pad/2) + out + strings.Repeat(fill, pad-pad/2), nil
	}
	return out + strings.Repeat(fill, pad), nil
}
