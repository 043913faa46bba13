package jinja

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// The rarer jinja2 filters. An unknown filter is a parse error, so a
// template that mentions one of these even in a branch it never takes
// would fail to load without them.
func init() {
	filters["groupby"] = fGroupBy
	filters["slice"] = lazy(fSlice)
	filters["wordwrap"] = fWordWrap
	filters["urlencode"] = fURLEncode
	filters["urlize"] = fURLize
	filters["filesizeformat"] = fFileSizeFormat
	filters["xmlattr"] = fXMLAttr
	filters["random"] = func(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
		items, err := iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return Undefined{Hint: "No random item, sequence was empty."}, nil
		}
		return items[rand.IntN(len(items))], nil
	}
}

// fGroupBy sorts by an attribute and groups equal neighbours into
// (grouper, list) tuples that also answer .grouper and .list.
func fGroupBy(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	attr := arg(args, kw, 0, "attribute", nil)
	def := arg(args, kw, 1, "default", nil)
	cs := truthy(arg(args, kw, 2, "case_sensitive", false))
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	keys := make([]Value, len(items))
	for i, it := range items {
		k, err := attrGetter(it, attr)
		if err != nil {
			return nil, err
		}
		if _, undef := k.(Undefined); undef && def != nil {
			k = def
		}
		keys[i] = k
	}
	sortKey := func(k Value) Value {
		if !cs {
			return lowerIfStr(k)
		}
		return k
	}
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var serr error
	sort.SliceStable(idx, func(a, b int) bool {
		c, e := order("<", sortKey(keys[idx[a]]), sortKey(keys[idx[b]]))
		if e != nil && serr == nil {
			serr = e
		}
		return c < 0
	})
	if serr != nil {
		return nil, serr
	}
	out := &List{}
	for _, i := range idx {
		n := len(out.Items)
		if n > 0 {
			last := out.Items[n-1].(*List)
			if equal(sortKey(last.Items[0]), sortKey(keys[i])) {
				grp := last.Items[1].(*List)
				grp.Items = append(grp.Items, items[i])
				continue
			}
		}
		out.Items = append(out.Items, &List{Items: []Value{keys[i], &List{Items: []Value{items[i]}}}, Tuple: true, Iter: "", group: true})
	}
	return out, nil
}

func fSlice(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	n, ok := asInt(arg(args, kw, 0, "slices", int64(1)))
	if !ok || n <= 0 {
		return nil, runtimeErr("ValueError", "slices must be a positive integer")
	}
	fill := arg(args, kw, 1, "fill_with", nil)
	items, err := iterate(v)
	if err != nil {
		return nil, err
	}
	per, extra := len(items)/int(n), len(items)%int(n)
	out := &List{}
	offset := 0
	for k := 0; k < int(min(n, 1<<20)); k++ {
		start := offset + k*per
		if k < extra {
			offset++
		}
		end := offset + (k+1)*per
		part := append([]Value(nil), items[start:end]...)
		if fill != nil && k >= extra {
			part = append(part, fill)
		}
		out.Items = append(out.Items, &List{Items: part})
	}
	return out, nil
}

// fWordWrap is a greedy whitespace wrap in the manner of Python's textwrap
// with jinja2's defaults (long words broken).
func fWordWrap(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	width, _ := asInt(arg(args, kw, 0, "width", int64(79)))
	breakLong := truthy(arg(args, kw, 1, "break_long_words", true))
	wrap := arg(args, kw, 2, "wrapstring", nil)
	sep := "\n"
	if wrap != nil {
		sep = str(wrap)
	}
	if width <= 0 {
		return nil, runtimeErr("ValueError", "invalid width %d (must be > 0)", width)
	}
	var paras []string
	for _, para := range pySplitLines(str(v)) {
		var lines []string
		cur := ""
		for _, w := range strings.FieldsFunc(para, isPySpace) {
			for breakLong && utf8.RuneCountInString(w) > int(width) {
				if cur != "" {
					lines = append(lines, cur)
					cur = ""
				}
				rs := []rune(w)
				lines = append(lines, string(rs[:width]))
				w = string(rs[width:])
			}
			switch {
			case cur == "":
				cur = w
			case utf8.RuneCountInString(cur)+1+utf8.RuneCountInString(w) <= int(width):
				cur += " " + w
			default:
				lines = append(lines, cur)
				cur = w
			}
		}
		if cur != "" {
			lines = append(lines, cur)
		}
		paras = append(paras, strings.Join(lines, sep))
	}
	return strings.Join(paras, sep), nil
}

func quoteURL(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~/", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func fURLEncode(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	switch x := v.(type) {
	case string:
		return quoteURL(x), nil
	case *Dict:
		var parts []string
		for i, k := range x.keys {
			parts = append(parts, url.QueryEscape(str(k))+"="+url.QueryEscape(str(x.vals[i])))
		}
		return strings.Join(parts, "&"), nil
	}
	return quoteURL(str(v)), nil
}

// fURLize wraps http(s) URLs in anchors and escapes the rest.
func fURLize(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	words := strings.Split(str(v), " ")
	for i, w := range words {
		esc, _ := fEscape(r, w, nil, nil)
		if strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://") || strings.HasPrefix(w, "www.") {
			href := w
			if strings.HasPrefix(w, "www.") {
				href = "https://" + w
			}
			h, _ := fEscape(r, href, nil, nil)
			words[i] = `<a href="` + h.(string) + `" rel="noopener">` + esc.(string) + `</a>`
		} else {
			words[i] = esc.(string)
		}
	}
	return strings.Join(words, " "), nil
}

func fFileSizeFormat(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	binary := truthy(arg(args, kw, 0, "binary", false))
	f, ok := toNum(v)
	if !ok {
		if s, isStr := v.(string); isStr {
			if f, ok = parsePyFloat(s); !ok {
				return nil, runtimeErr("ValueError", "could not convert string to float: %s", reprString(s))
			}
		} else {
			return nil, typeErr("float() argument must be a string or a real number, not '%s'", typeName(v))
		}
	}
	base := 1000.0
	prefixes := []string{"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	if binary {
		base = 1024
		prefixes = []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
	}
	if f == 1 {
		return "1 Byte", nil
	}
	if f < base {
		return fmt.Sprintf("%d Bytes", int64(f)), nil
	}
	var unit float64
	var prefix string
	for i, p := range prefixes {
		unit = math.Pow(base, float64(i+2))
		prefix = p
		if f < unit {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", base*f/unit, prefix), nil
}

func fXMLAttr(r *renderer, v Value, args []Value, kw *Dict) (Value, error) {
	d, ok := v.(*Dict)
	if !ok {
		return nil, runtimeErr("AttributeError", "'%s' object has no attribute 'items'", typeName(v))
	}
	autospace := truthy(arg(args, kw, 0, "autospace", true))
	var parts []string
	for i, k := range d.keys {
		val := d.vals[i]
		if _, undef := val.(Undefined); undef || val == nil {
			continue
		}
		key := str(k)
		if strings.ContainsAny(key, " /\\>=\t\n\f") {
			return nil, runtimeErr("ValueError", "Invalid character in attribute name: %s", reprString(key))
		}
		ev, _ := fEscape(r, val, nil, nil)
		ek, _ := fEscape(r, key, nil, nil)
		parts = append(parts, ek.(string)+`="`+ev.(string)+`"`)
	}
	s := strings.Join(parts, " ")
	if autospace && s != "" {
		s = " " + s
	}
	return s, nil
}
