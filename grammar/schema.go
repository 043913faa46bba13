// Package grammar constrains token sampling so that a model's output is a
// JSON value matching a JSON Schema (or any JSON object, for Ollama's
// `format: "json"` and OpenAI's `response_format: {"type":"json_object"}`).
//
// Compile turns the schema into a pushdown automaton over bytes; a State
// walks that automaton through a byte trie of the model's vocabulary once
// per decoding step and masks every token whose bytes cannot continue a
// valid document, so sampling can only pick tokens that keep the output on
// a path to a complete, valid value.
package grammar

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
)

// Limits on hostile schemas: a schema beyond them is refused at compile
// time with an error, never a hang or a huge allocation.
const (
	maxSchemaBytes  = 1 << 20 // schema document size
	maxSchemaDepth  = 64      // nesting of subschemas
	maxNodes        = 20000   // compiled subschemas
	maxLiteralSize  = 1 << 20 // total bytes of enum/const values
	maxCount        = 100000  // largest minItems/minLength honoured
	maxAlternatives = 64      // anyOf alternatives after flattening
)

// Generation limits that keep decoding from looping forever on filler.
const (
	maxWS        = 20  // whitespace bytes at any one position (< 32)
	maxNewlines  = 2   // line breaks (\n or \r) in one whitespace run
	maxIntDigits = 16  // digits before the decimal point
	maxFracDigit = 16  // digits after it
	maxExpDigits = 2   // exponent digits
	maxDepth     = 200 // frames (nesting) at run time
	unbounded    = math.MaxInt32
)

type kind uint8

const (
	kObject kind = iota + 1
	kArray
	kString
	kNumber
	kLiteral
	kAnyOf
	kRoot
)

// node is one compiled subschema.
type node struct {
	kind kind
	id   int32
	sat  bool // can produce a finite value (least fixpoint)
	// minDepth is the least nesting (frames, this one included) of any
	// value of the node.
	minDepth int32

	// object
	props      []prop
	firstReq   []int32 // firstReq[i]: smallest required index >= i, or len(props)
	keys       *btrie  // canonical raw keys of props
	additional *node   // schema of extra keys when generating (nil: none)
	extraOK    bool    // validation: extra keys allowed
	extraNode  *node   // validation: schema of extra keys (nil: anything)

	// array
	items              *node
	minItems, maxItems int32

	// string
	minLen, maxLen int32
	pat            *pattern

	// number
	integer bool
	bounds  *numBounds

	// literal (enum, const, true/false/null)
	lit    *btrie
	values []any // ordered values, for validation

	// anyOf / oneOf
	alts  []*node
	oneOf bool

	// root
	value *node
}

type prop struct {
	name     string
	n        *node
	required bool
}

// Grammar is a compiled format. It is immutable and safe for concurrent
// use; each generation gets its own State from Start.
type Grammar struct {
	root  *node
	nodes int
	cache maskCache
}

// Compile compiles an Ollama `format` value or a JSON Schema. format is raw
// JSON: the string "json" (also accepted unquoted) means any JSON object;
// an object or `true` is a JSON Schema. Unsupported keywords, unresolvable
// references and schemas that admit no value are errors.
//
// Recently compiled formats are kept (with their mask caches), so a
// schema that every request repeats is compiled and walked once.
func Compile(format []byte) (*Grammar, error) {
	format = bytes.TrimSpace(format)
	if g := recent.get(format); g != nil {
		return g, nil
	}
	g, err := compileFormat(format)
	if err == nil {
		recent.put(format, g)
	}
	return g, err
}

// recent is a small most-recently-used list of compiled formats.
var recent mru

type mru struct {
	mu      sync.Mutex
	entries []mruEntry
}

type mruEntry struct {
	key string
	g   *Grammar
}

const mruSize = 8

func (c *mru) get(key []byte) *Grammar {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.key == string(key) {
			copy(c.entries[1:i+1], c.entries[:i])
			c.entries[0] = e
			return e.g
		}
	}
	return nil
}

func (c *mru) put(key []byte, g *Grammar) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) < mruSize {
		c.entries = append(c.entries, mruEntry{})
	}
	copy(c.entries[1:], c.entries[:len(c.entries)-1])
	c.entries[0] = mruEntry{string(key), g}
}

func compileFormat(format []byte) (*Grammar, error) {
	if len(format) > maxSchemaBytes {
		return nil, fmt.Errorf("grammar: schema is %d bytes, limit %d", len(format), maxSchemaBytes)
	}
	if string(format) == "json" || string(format) == `"json"` {
		c := newCompiler(nil)
		obj := c.mustNode(kObject)
		obj.additional, obj.extraOK = c.anyValue(), true
		return c.finish(obj)
	}
	if len(format) == 0 {
		return nil, errors.New("grammar: empty format")
	}
	doc, err := parseOrdered(format)
	if err != nil {
		return nil, fmt.Errorf("grammar: schema is not valid JSON: %w", err)
	}
	if s, ok := doc.(string); ok {
		return nil, fmt.Errorf("grammar: format %q: want \"json\" or a JSON schema object", s)
	}
	c := newCompiler(doc)
	n, err := c.compile(doc, "#", 0)
	if err != nil {
		return nil, err
	}
	return c.finish(n)
}

// JSONObject returns the grammar of any JSON object (`format: "json"`).
func JSONObject() *Grammar {
	g, err := Compile([]byte("json"))
	if err != nil {
		panic(err) // cannot happen: constant input
	}
	return g
}

type compiler struct {
	doc   any
	refs  map[string]*node
	nodes []*node
	any   *node
}

func newCompiler(doc any) *compiler {
	return &compiler{doc: doc, refs: map[string]*node{}}
}

func (c *compiler) newNode(k kind) (*node, error) {
	if len(c.nodes) >= maxNodes {
		return nil, fmt.Errorf("grammar: schema has more than %d subschemas", maxNodes)
	}
	n := &node{kind: k, id: int32(len(c.nodes))}
	c.nodes = append(c.nodes, n)
	return n, nil
}

func (c *compiler) mustNode(k kind) *node {
	n := &node{kind: k, id: int32(len(c.nodes))}
	c.nodes = append(c.nodes, n)
	return n
}

// anyValue is the (recursive) schema of any JSON value.
func (c *compiler) anyValue() *node {
	if c.any != nil {
		return c.any
	}
	a := c.mustNode(kAnyOf)
	c.any = a
	obj := c.mustNode(kObject)
	obj.additional, obj.extraOK = a, true
	arr := c.mustNode(kArray)
	arr.items, arr.maxItems = a, unbounded
	str := c.mustNode(kString)
	str.maxLen = unbounded
	num := c.mustNode(kNumber)
	lit := c.literal([]any{true, false, nil})
	a.alts = []*node{obj, arr, str, num, lit}
	return a
}

func (c *compiler) literal(values []any) *node {
	n := c.mustNode(kLiteral)
	n.values = values
	n.lit = &btrie{}
	n.lit.init()
	for i, v := range values {
		var b bytes.Buffer
		writeCanonical(&b, v)
		n.lit.insert(b.Bytes(), int32(i))
	}
	return n
}

// finish wraps n in the root, computes which nodes can produce a value and
// the per-object tables.
func (c *compiler) finish(n *node) (*Grammar, error) {
	root := c.mustNode(kRoot)
	root.value = n
	for _, x := range c.nodes {
		if x.kind == kObject {
			x.firstReq = make([]int32, len(x.props)+1)
			x.firstReq[len(x.props)] = int32(len(x.props))
			for i := len(x.props) - 1; i >= 0; i-- {
				if x.props[i].required {
					x.firstReq[i] = int32(i)
				} else {
					x.firstReq[i] = x.firstReq[i+1]
				}
			}
			x.keys = &btrie{}
			x.keys.init()
			for i, p := range x.props {
				x.keys.insert([]byte(canonicalKey(p.name)), int32(i))
			}
			x.keys.finishSub()
		}
	}
	// Least fixpoint: a node is satisfiable if it can produce a finite value.
	for changed := true; changed; {
		changed = false
		for _, x := range c.nodes {
			if x.sat {
				continue
			}
			s := false
			switch x.kind {
			case kString:
				s = x.minLen <= x.maxLen
			case kNumber:
				s = x.bounds == nil || x.bounds.feasible()
			case kLiteral:
				s = len(x.values) > 0
			case kArray:
				s = x.minItems <= x.maxItems && (x.minItems == 0 || x.items.sat)
			case kObject:
				s = true
				for _, p := range x.props {
					if p.required && !p.n.sat {
						s = false
					}
				}
			case kAnyOf:
				for _, a := range x.alts {
					s = s || a.sat
				}
			case kRoot:
				s = x.value.sat
			}
			if s {
				x.sat, changed = true, true
			}
		}
	}
	if !root.sat {
		return nil, errors.New("grammar: the schema admits no finite JSON value")
	}
	computeMinDepth(c.nodes)
	if root.value.minDepth > maxDepth {
		return nil, fmt.Errorf("grammar: every value of the schema nests deeper than %d levels", maxDepth)
	}
	// Flatten anyOf alternatives so that pushing a value never recurses
	// through anyOf nodes, and drop unsatisfiable ones.
	for _, x := range c.nodes {
		if x.kind == kAnyOf {
			x.alts = flattenAlts(x, nil, map[*node]bool{})
			if len(x.alts) > maxAlternatives {
				return nil, fmt.Errorf("grammar: anyOf/oneOf/type lists %d alternatives, limit %d", len(x.alts), maxAlternatives)
			}
		}
		if x.kind == kObject && x.additional != nil && !x.additional.sat {
			x.additional = nil
		}
	}
	return &Grammar{root: root, nodes: len(c.nodes)}, nil
}

// computeMinDepth is a shortest-path fixpoint over the (possibly cyclic)
// schema graph; unsatisfiable nodes keep an infinite depth.
func computeMinDepth(nodes []*node) {
	const inf = math.MaxInt32 / 2
	for _, x := range nodes {
		x.minDepth = inf
	}
	for changed := true; changed; {
		changed = false
		for _, x := range nodes {
			if !x.sat {
				continue
			}
			d := int32(inf)
			switch x.kind {
			case kString, kNumber, kLiteral:
				d = 1
			case kArray:
				d = 1
				if x.minItems > 0 {
					d = 1 + x.items.minDepth
				}
			case kObject:
				d = 1
				for _, p := range x.props {
					if p.required {
						d = max(d, 1+p.n.minDepth)
					}
				}
			case kAnyOf:
				for _, a := range x.alts {
					d = min(d, a.minDepth)
				}
			case kRoot:
				d = x.value.minDepth
			}
			d = min(d, inf)
			if d < x.minDepth {
				x.minDepth, changed = d, true
			}
		}
	}
}

func flattenAlts(x *node, out []*node, seen map[*node]bool) []*node {
	if seen[x] {
		return out
	}
	seen[x] = true
	for _, a := range x.alts {
		if !a.sat {
			continue
		}
		if a.kind == kAnyOf {
			out = flattenAlts(a, out, seen)
		} else if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// Keywords that only annotate a schema.
var annotations = map[string]bool{
	"title": true, "description": true, "default": true, "examples": true,
	"$schema": true, "$id": true, "$comment": true, "deprecated": true,
	"readOnly": true, "writeOnly": true, "format": true, "$defs": true,
	"definitions": true, "strict": true, "name": true, "contentEncoding": true,
	"contentMediaType": true, "discriminator": true, "$anchor": true,
}

// Keywords this compiler understands.
var supported = map[string]bool{
	"type": true, "properties": true, "required": true,
	"additionalProperties": true, "items": true, "enum": true, "const": true,
	"anyOf": true, "oneOf": true, "allOf": true, "$ref": true,
	"minItems": true, "maxItems": true, "minLength": true, "maxLength": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true,
	"exclusiveMaximum": true, "nullable": true, "pattern": true,
}

func (c *compiler) compile(v any, path string, depth int) (*node, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("grammar: %s: schema nested deeper than %d levels", path, maxSchemaDepth)
	}
	switch s := v.(type) {
	case bool:
		if s {
			return c.anyValue(), nil
		}
		return nil, fmt.Errorf("grammar: %s: schema false admits no value", path)
	case *omap:
		return c.compileObject(s, path, depth)
	}
	return nil, fmt.Errorf("grammar: %s: a schema must be an object or a boolean, got %s", path, jsonKind(v))
}

func (c *compiler) compileObject(s *omap, path string, depth int) (*node, error) {
	constraints := 0
	for _, k := range s.keys {
		switch {
		case supported[k]:
			constraints++
		case annotations[k]:
		default:
			return nil, fmt.Errorf("grammar: %s: unsupported schema keyword %q", path, k)
		}
	}
	if r, ok := s.m["$ref"]; ok {
		if constraints > 1 {
			return nil, fmt.Errorf("grammar: %s: keywords beside $ref are not supported", path)
		}
		ref, ok := r.(string)
		if !ok {
			return nil, fmt.Errorf("grammar: %s: $ref must be a string", path)
		}
		return c.ref(ref, path, depth)
	}
	if a, ok := s.m["allOf"]; ok {
		list, ok := a.([]any)
		if !ok || len(list) != 1 || constraints > 1 {
			return nil, fmt.Errorf("grammar: %s: allOf is supported only with a single subschema and no sibling keywords", path)
		}
		return c.compile(list[0], path+"/allOf/0", depth+1)
	}
	if nb, ok := s.m["nullable"]; ok {
		b, isBool := nb.(bool)
		if !isBool {
			return nil, fmt.Errorf("grammar: %s: nullable must be a boolean", path)
		}
		if b {
			inner := &omap{m: map[string]any{}}
			for _, k := range s.keys {
				if k != "nullable" {
					inner.set(k, s.m[k])
				}
			}
			n, err := c.compileObject(inner, path, depth+1)
			if err != nil {
				return nil, err
			}
			alt, err := c.newNode(kAnyOf)
			if err != nil {
				return nil, err
			}
			alt.alts = []*node{n, c.literal([]any{nil})}
			return alt, nil
		}
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		a, ok := s.m[kw]
		if !ok {
			continue
		}
		list, ok := a.([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("grammar: %s: %s must be a non-empty array of schemas", path, kw)
		}
		if constraints > 1 {
			return nil, fmt.Errorf("grammar: %s: keywords beside %s are not supported (move them into each alternative)", path, kw)
		}
		n, err := c.newNode(kAnyOf)
		if err != nil {
			return nil, err
		}
		n.oneOf = kw == "oneOf"
		for i, sub := range list {
			a, err := c.compile(sub, fmt.Sprintf("%s/%s/%d", path, kw, i), depth+1)
			if err != nil {
				return nil, err
			}
			n.alts = append(n.alts, a)
		}
		return n, nil
	}
	var enum []any
	hasEnum := false
	if e, ok := s.m["enum"]; ok {
		list, ok := e.([]any)
		if !ok || len(list) == 0 {
			return nil, fmt.Errorf("grammar: %s: enum must be a non-empty array", path)
		}
		enum, hasEnum = list, true
	}
	if cv, ok := s.m["const"]; ok {
		if hasEnum {
			var keep []any
			for _, e := range enum {
				if jsonEqual(e, cv) {
					keep = append(keep, e)
				}
			}
			enum = keep
		} else {
			enum = []any{cv}
		}
		hasEnum = true
	}
	if hasEnum {
		size := 0
		for _, e := range enum {
			var b bytes.Buffer
			writeCanonical(&b, e)
			size += b.Len()
		}
		if size > maxLiteralSize {
			return nil, fmt.Errorf("grammar: %s: enum/const values exceed %d bytes", path, maxLiteralSize)
		}
		// Keep only the values the rest of the schema admits.
		rest := &omap{m: map[string]any{}}
		for _, k := range s.keys {
			if k != "enum" && k != "const" {
				rest.set(k, s.m[k])
			}
		}
		keep := dedupe(enum)
		if constraints > 1 {
			rn, err := c.compileObject(rest, path, depth+1)
			if err != nil {
				return nil, err
			}
			var ok []any
			for _, e := range keep {
				if validate(rn, plain(e), "") == nil {
					ok = append(ok, e)
				}
			}
			keep = ok
		}
		if len(keep) == 0 {
			return nil, fmt.Errorf("grammar: %s: no enum/const value matches the schema", path)
		}
		if _, err := c.newNode(kLiteral); err != nil { // count against the limit
			return nil, err
		}
		return c.literal(keep), nil
	}

	var types []string
	switch t := s.m["type"].(type) {
	case nil:
		if _, ok := s.m["type"]; ok {
			return nil, fmt.Errorf("grammar: %s: type must be a string or an array of strings", path)
		}
	case string:
		types = []string{t}
	case []any:
		for _, x := range t {
			ts, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("grammar: %s: type must be a string or an array of strings", path)
			}
			types = append(types, ts)
		}
		if len(types) == 0 {
			return nil, fmt.Errorf("grammar: %s: type is an empty array", path)
		}
	default:
		return nil, fmt.Errorf("grammar: %s: type must be a string or an array of strings", path)
	}
	if types == nil {
		// Infer from the keywords present, as generators do.
		switch {
		case has(s, "properties", "additionalProperties", "required"):
			types = []string{"object"}
		case has(s, "items", "minItems", "maxItems"):
			types = []string{"array"}
		case has(s, "minLength", "maxLength", "pattern"):
			types = []string{"string"}
		case has(s, "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
			types = []string{"number"}
		default:
			return c.anyValue(), nil
		}
	}
	if len(types) == 1 {
		return c.compileType(s, types[0], path, depth)
	}
	n, err := c.newNode(kAnyOf)
	if err != nil {
		return nil, err
	}
	for _, t := range types {
		a, err := c.compileType(s, t, path, depth)
		if err != nil {
			return nil, err
		}
		n.alts = append(n.alts, a)
	}
	return n, nil
}

func has(s *omap, keys ...string) bool {
	for _, k := range keys {
		if _, ok := s.m[k]; ok {
			return true
		}
	}
	return false
}

func (c *compiler) compileType(s *omap, t, path string, depth int) (*node, error) {
	switch t {
	case "object":
		n, err := c.newNode(kObject)
		if err != nil {
			return nil, err
		}
		props, hasProps := s.m["properties"]
		var pm *omap
		if hasProps {
			var ok bool
			if pm, ok = props.(*omap); !ok {
				return nil, fmt.Errorf("grammar: %s: properties must be an object", path)
			}
			for _, k := range pm.keys {
				pn, err := c.compile(pm.m[k], path+"/properties/"+k, depth+1)
				if err != nil {
					return nil, err
				}
				n.props = append(n.props, prop{name: k, n: pn})
			}
		}
		if r, ok := s.m["required"]; ok {
			list, ok := r.([]any)
			if !ok {
				return nil, fmt.Errorf("grammar: %s: required must be an array of strings", path)
			}
			for _, x := range list {
				name, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("grammar: %s: required must be an array of strings", path)
				}
				found := false
				for i := range n.props {
					if n.props[i].name == name {
						n.props[i].required, found = true, true
					}
				}
				if !found {
					// A required key without a schema: any value.
					n.props = append(n.props, prop{name: name, n: c.anyValue(), required: true})
				}
			}
		}
		n.extraOK = true
		switch a := s.m["additionalProperties"].(type) {
		case nil:
			if _, ok := s.m["additionalProperties"]; ok {
				return nil, fmt.Errorf("grammar: %s: additionalProperties must be a boolean or a schema", path)
			}
			// Like llama.cpp: extra keys are generated only when asked
			// for, except for a bare {"type":"object"}.
			if !hasProps && len(n.props) == 0 {
				n.additional = c.anyValue()
			}
		case bool:
			n.extraOK = a
			if a {
				n.additional = c.anyValue()
			}
		case *omap:
			an, err := c.compile(a, path+"/additionalProperties", depth+1)
			if err != nil {
				return nil, err
			}
			n.additional, n.extraNode = an, an
		default:
			return nil, fmt.Errorf("grammar: %s: additionalProperties must be a boolean or a schema", path)
		}
		return n, nil
	case "array":
		n, err := c.newNode(kArray)
		if err != nil {
			return nil, err
		}
		n.items = nil
		switch it := s.m["items"].(type) {
		case nil:
			if _, ok := s.m["items"]; ok {
				return nil, fmt.Errorf("grammar: %s: items must be a schema", path)
			}
			n.items = c.anyValue()
		case []any:
			return nil, fmt.Errorf("grammar: %s: tuple items (an array) are not supported", path)
		default:
			in, err := c.compile(it, path+"/items", depth+1)
			if err != nil {
				return nil, err
			}
			n.items = in
		}
		if n.minItems, n.maxItems, err = countRange(s, "minItems", "maxItems", path); err != nil {
			return nil, err
		}
		return n, nil
	case "string":
		n, err := c.newNode(kString)
		if err != nil {
			return nil, err
		}
		if n.minLen, n.maxLen, err = countRange(s, "minLength", "maxLength", path); err != nil {
			return nil, err
		}
		if pv, ok := s.m["pattern"]; ok {
			expr, ok := pv.(string)
			if !ok {
				return nil, fmt.Errorf("grammar: %s: pattern must be a string", path)
			}
			if has(s, "minLength", "maxLength") {
				return nil, fmt.Errorf("grammar: %s: pattern together with minLength/maxLength is not supported", path)
			}
			if n.pat, err = compilePattern(expr, path); err != nil {
				return nil, err
			}
		}
		return n, nil
	case "number", "integer":
		n, err := c.newNode(kNumber)
		if err != nil {
			return nil, err
		}
		n.integer = t == "integer"
		b, err := parseBounds(s, n.integer, path)
		if err != nil {
			return nil, err
		}
		n.bounds = b
		return n, nil
	case "boolean":
		if _, err := c.newNode(kLiteral); err != nil {
			return nil, err
		}
		return c.literal([]any{true, false}), nil
	case "null":
		if _, err := c.newNode(kLiteral); err != nil {
			return nil, err
		}
		return c.literal([]any{nil}), nil
	}
	return nil, fmt.Errorf("grammar: %s: unknown type %q", path, t)
}

func countRange(s *omap, minKey, maxKey, path string) (lo, hi int32, err error) {
	lo, hi = 0, unbounded
	get := func(k string) (int64, bool, error) {
		v, ok := s.m[k]
		if !ok {
			return 0, false, nil
		}
		num, ok := v.(json.Number)
		if !ok {
			return 0, false, fmt.Errorf("grammar: %s: %s must be a non-negative integer", path, k)
		}
		f, err := strconv.ParseFloat(string(num), 64)
		if err != nil && !math.IsInf(f, 1) || f < 0 || f != math.Trunc(f) {
			return 0, false, fmt.Errorf("grammar: %s: %s must be a non-negative integer, got %.40s", path, k, num)
		}
		if f > unbounded {
			f = unbounded
		}
		return int64(f), true, nil
	}
	if v, ok, err := get(minKey); err != nil {
		return 0, 0, err
	} else if ok {
		if v > maxCount {
			return 0, 0, fmt.Errorf("grammar: %s: %s %d is larger than the supported %d", path, minKey, v, maxCount)
		}
		lo = int32(v)
	}
	if v, ok, err := get(maxKey); err != nil {
		return 0, 0, err
	} else if ok {
		hi = int32(v)
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("grammar: %s: %s %d exceeds %s %d", path, minKey, lo, maxKey, hi)
	}
	return lo, hi, nil
}

// ref resolves a local reference ("#", "#/$defs/Name", any "#/..." JSON
// pointer). Each target compiles once, so recursive schemas are graphs.
func (c *compiler) ref(ref, path string, depth int) (*node, error) {
	if n, ok := c.refs[ref]; ok {
		return n, nil
	}
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("grammar: %s: only local $ref (#/...) is supported, got %q", path, ref)
	}
	target := c.doc
	if ref != "#" {
		if !strings.HasPrefix(ref, "#/") {
			return nil, fmt.Errorf("grammar: %s: unsupported $ref %q", path, ref)
		}
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			switch t := target.(type) {
			case *omap:
				v, ok := t.m[part]
				if !ok {
					return nil, fmt.Errorf("grammar: %s: $ref %q does not resolve", path, ref)
				}
				target = v
			case []any:
				i, err := strconv.Atoi(part)
				if err != nil || i < 0 || i >= len(t) {
					return nil, fmt.Errorf("grammar: %s: $ref %q does not resolve", path, ref)
				}
				target = t[i]
			default:
				return nil, fmt.Errorf("grammar: %s: $ref %q does not resolve", path, ref)
			}
		}
	}
	// A placeholder anyOf with one alternative lets a reference cycle
	// close before its target is compiled.
	ph, err := c.newNode(kAnyOf)
	if err != nil {
		return nil, err
	}
	c.refs[ref] = ph
	n, err := c.compile(target, ref, depth+1)
	if err != nil {
		return nil, err
	}
	ph.alts = []*node{n}
	return ph, nil
}

// omap is a JSON object that remembers its key order (the order in which
// properties are generated).
type omap struct {
	keys []string
	m    map[string]any
}

func (o *omap) set(k string, v any) {
	if _, ok := o.m[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.m[k] = v
}

// parseOrdered decodes JSON keeping object key order and numbers as text.
func parseOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the schema")
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (any, error) {
	if depth > 4*maxSchemaDepth {
		return nil, fmt.Errorf("nested deeper than %d levels", 4*maxSchemaDepth)
	}
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch d := t.(type) {
	case json.Delim:
		switch d {
		case '{':
			o := &omap{m: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				o.set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := parseValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return list, nil
		}
		return nil, fmt.Errorf("unexpected %v", d)
	}
	return t, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

// canonicalKey is the raw JSON text (without quotes) the generator writes
// for a string: only `"`, `\` and control characters are escaped, so each
// string has exactly one spelling.
func canonicalKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
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
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// writeCanonical writes v (from parseOrdered) as compact JSON, keeping key
// order and number text.
func writeCanonical(b *bytes.Buffer, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		b.WriteString(string(t))
	case string:
		b.WriteByte('"')
		b.WriteString(canonicalKey(t))
		b.WriteByte('"')
	case []any:
		b.WriteByte('[')
		for i, x := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, x)
		}
		b.WriteByte(']')
	case *omap:
		b.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCanonical(b, k)
			b.WriteByte(':')
			writeCanonical(b, t.m[k])
		}
		b.WriteByte('}')
	}
}

// plain converts a parseOrdered value to encoding/json's representation
// (with json.Number).
func plain(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = plain(x)
		}
		return out
	case *omap:
		out := make(map[string]any, len(t.keys))
		for _, k := range t.keys {
			out[k] = plain(t.m[k])
		}
		return out
	}
	return v
}

func dedupe(list []any) []any {
	var out []any
	for _, x := range list {
		dup := false
		for _, y := range out {
			if jsonEqual(x, y) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}
