package jinja

import (
	"slices"
	"strconv"
	"strings"
)

// maxNesting bounds parser recursion so hostile templates cannot blow the
// stack.
const maxNesting = 200

type parser struct {
	toks     []token
	pos      int
	depth    int
	tagStack []string
	endStack [][]string
	names    map[string]bool // names referenced, for macro varargs/kwargs/caller detection
	closures int             // macros and call blocks parsed so far
}

// Parse compiles template source.
func Parse(src string) (*Template, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, names: map[string]bool{}}
	body, err := p.subparse(nil)
	if err != nil {
		return nil, err
	}
	return &Template{body: body}, nil
}

func (p *parser) cur() token  { return p.toks[p.pos] }
func (p *parser) peek() token { return p.toks[min(p.pos+1, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if p.pos < len(p.toks)-1 {
		p.pos++
	}
	return t
}

func (p *parser) isOp(v string) bool { t := p.cur(); return t.kind == tOp && t.val == v }
func (p *parser) isName(v string) bool {
	t := p.cur()
	return t.kind == tName && t.val == v
}

func (p *parser) skipOp(v string) bool {
	if p.isOp(v) {
		p.next()
		return true
	}
	return false
}

func (p *parser) skipName(v string) bool {
	if p.isName(v) {
		p.next()
		return true
	}
	return false
}

func (p *parser) expectOp(v string) error {
	if p.skipOp(v) {
		return nil
	}
	return p.unexpected("'" + v + "'")
}

func (p *parser) unexpected(want string) error {
	t := p.cur()
	if t.kind == tEOF {
		return syntaxErr(t.line, "unexpected end of template, expected %s.", want)
	}
	return syntaxErr(t.line, "expected token %s, got '%s'", want, t.describe())
}

func (p *parser) expectBlockEnd() error {
	if p.cur().kind == tBlockEnd {
		p.next()
		return nil
	}
	return p.unexpected("'end of statement block'")
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxNesting {
		return syntaxErr(p.cur().line, "template nesting deeper than %d", maxNesting)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// subparse parses nodes until a block tag whose name is in end (the tag name
// is left as the current token) or EOF.
func (p *parser) subparse(end []string) ([]node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if end != nil {
		p.endStack = append(p.endStack, end)
		defer func() { p.endStack = p.endStack[:len(p.endStack)-1] }()
	}
	var body []node
	for {
		t := p.cur()
		switch t.kind {
		case tEOF:
			if end != nil {
				return nil, p.failUnknownTag("", t.line)
			}
			return body, nil
		case tData:
			p.next()
			body = append(body, &textNode{s: t.val})
		case tVarBegin:
			p.next()
			e, err := p.parseTuple(true, false)
			if err != nil {
				return nil, err
			}
			if p.cur().kind != tVarEnd {
				return nil, p.unexpected("'end of print statement'")
			}
			p.next()
			body = append(body, &outputNode{e: e})
		case tBlockBegin:
			p.next()
			nt := p.cur()
			if nt.kind == tName {
				for _, e := range end {
					if nt.val == e {
						return body, nil
					}
				}
			}
			n, err := p.parseStatement()
			if err != nil {
				return nil, err
			}
			if n != nil {
				body = append(body, n)
			}
		default:
			return nil, syntaxErr(t.line, "unexpected '%s'", t.describe())
		}
	}
}

func (p *parser) failUnknownTag(name string, line int) error {
	var msg []string
	if name == "" {
		msg = append(msg, "Unexpected end of template.")
	} else {
		msg = append(msg, "Encountered unknown tag "+reprString(name)+".")
	}
	if len(p.endStack) > 0 {
		expected := map[string]bool{}
		for _, es := range p.endStack {
			for _, e := range es {
				expected[e] = true
			}
		}
		var quoted []string
		for _, e := range p.endStack[len(p.endStack)-1] {
			quoted = append(quoted, reprString(e))
		}
		looking := strings.Join(quoted, " or ")
		if name != "" && expected[name] {
			msg = append(msg, "You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for "+looking+".")
		} else {
			msg = append(msg, "Jinja was looking for the following tags: "+looking+".")
		}
	}
	if len(p.tagStack) > 0 {
		msg = append(msg, "The innermost block that needs to be closed is "+reprString(p.tagStack[len(p.tagStack)-1])+".")
	}
	return syntaxErr(line, "%s", strings.Join(msg, " "))
}

func (p *parser) parseStatement() (node, error) {
	t := p.cur()
	if t.kind != tName {
		return nil, syntaxErr(t.line, "tag name expected")
	}
	p.tagStack = append(p.tagStack, t.val)
	popTag := true
	defer func() {
		if popTag {
			p.tagStack = p.tagStack[:len(p.tagStack)-1]
		}
	}()
	switch t.val {
	case "if":
		return p.parseIf()
	case "for":
		return p.parseFor()
	case "set":
		return p.parseSet()
	case "macro":
		return p.parseMacro()
	case "call":
		return p.parseCallBlock()
	case "filter":
		return p.parseFilterBlock()
	case "with":
		return p.parseWith()
	case "break", "continue":
		p.next()
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		if t.val == "break" {
			return breakNode{}, nil
		}
		return continueNode{}, nil
	case "print":
		p.next()
		e, err := p.parseTuple(true, false)
		if err != nil {
			return nil, err
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		return &outputNode{e: e}, nil
	case "extends", "include", "import", "from", "block", "autoescape":
		return nil, syntaxErr(t.line, "tag '%s' is not supported in chat templates", t.val)
	}
	// Unknown tag: jinja2 reports it against the innermost open block.
	p.tagStack = p.tagStack[:len(p.tagStack)-1]
	popTag = false
	return nil, p.failUnknownTag(t.val, t.line)
}

// endTag consumes `{% name %}` where the current token is the name.
func (p *parser) endTag() error {
	p.next()
	return p.expectBlockEnd()
}

func (p *parser) parseIf() (node, error) {
	p.next() // if
	n := &ifNode{}
	for {
		cond, err := p.parseTuple(false, false)
		if err != nil {
			return nil, err
		}
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		body, err := p.subparse([]string{"elif", "else", "endif"})
		if err != nil {
			return nil, err
		}
		n.conds = append(n.conds, cond)
		n.bodies = append(n.bodies, body)
		tag := p.next().val
		if tag == "elif" {
			continue
		}
		if tag == "else" {
			if err := p.expectBlockEnd(); err != nil {
				return nil, err
			}
			n.els, err = p.subparse([]string{"endif"})
			if err != nil {
				return nil, err
			}
			p.next()
		}
		return n, p.expectBlockEnd()
	}
}

func (p *parser) parseAssignTarget(withTuple, nameOnly bool) (*target, error) {
	parseOne := func() (*target, error) {
		t := p.cur()
		if t.kind != tName {
			if p.tupleEnd() {
				return nil, syntaxErr(t.line, "Expected an expression, got '%s'", t.describe())
			}
			return nil, syntaxErr(t.line, "can't assign to '%s'", t.describe())
		}
		p.next()
		if !nameOnly && p.isOp(".") && p.peek().kind == tName {
			p.next()
			attr := p.next().val
			return &target{name: t.val, attr: attr}, nil
		}
		if isReservedName(t.val) {
			return nil, syntaxErr(t.line, "can't assign to %s", reprString(t.val))
		}
		return &target{name: t.val}, nil
	}
	first, err := parseOne()
	if err != nil || !withTuple || !p.isOp(",") {
		return first, err
	}
	tg := &target{items: []*target{first}, tuple: true}
	for p.skipOp(",") {
		if p.cur().kind != tName {
			break
		}
		it, err := parseOne()
		if err != nil {
			return nil, err
		}
		if it.attr != "" {
			return nil, syntaxErr(p.cur().line, "can't assign to namespace attribute in a tuple")
		}
		tg.items = append(tg.items, it)
	}
	return tg, nil
}

func isReservedName(s string) bool {
	switch s {
	case "true", "false", "none", "True", "False", "None":
		return true
	}
	return false
}

func (p *parser) parseFor() (node, error) {
	line := p.next().line // for
	tgt, err := p.parseAssignTarget(true, true)
	if err != nil {
		return nil, err
	}
	if !p.skipName("in") {
		return nil, p.unexpected("'in'")
	}
	iter, err := p.parseTuple(false, false)
	if err != nil {
		return nil, err
	}
	n := &forNode{tgt: tgt, iter: iter, line: line}
	if p.skipName("if") {
		n.filter, err = p.parseExpression(true)
		if err != nil {
			return nil, err
		}
	}
	if p.skipName("recursive") {
		n.recursive = true
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	closuresBefore := p.closures
	n.body, err = p.subparse([]string{"endfor", "else"})
	n.captures = p.closures != closuresBefore
	if err != nil {
		return nil, err
	}
	if p.next().val == "else" {
		if err := p.expectBlockEnd(); err != nil {
			return nil, err
		}
		n.els, err = p.subparse([]string{"endfor"})
		if err != nil {
			return nil, err
		}
		p.next()
	}
	return n, p.expectBlockEnd()
}

func (p *parser) parseSet() (node, error) {
	p.next() // set
	tgt, err := p.parseAssignTarget(true, false)
	if err != nil {
		return nil, err
	}
	if p.skipOp("=") {
		e, err := p.parseTuple(true, false)
		if err != nil {
			return nil, err
		}
		return &setNode{tgt: tgt, e: e}, p.expectBlockEnd()
	}
	n := &setBlockNode{tgt: tgt}
	for p.isOp("|") {
		p.next()
		f, err := p.parseFilterCall(nil)
		if err != nil {
			return nil, err
		}
		n.filters = append(n.filters, f)
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	n.body, err = p.subparse([]string{"endset"})
	if err != nil {
		return nil, err
	}
	return n, p.endTag()
}

// parseSignature parses `(a, b=1, ...)` for macros and call blocks.
func (p *parser) parseSignature(d *macroDecl) error {
	if err := p.expectOp("("); err != nil {
		return err
	}
	for !p.isOp(")") {
		if len(d.params) > 0 {
			if err := p.expectOp(","); err != nil {
				return err
			}
			if p.isOp(")") {
				break
			}
		}
		t := p.cur()
		if t.kind != tName {
			return p.unexpected("name")
		}
		p.next()
		pm := param{name: t.val}
		if p.skipOp("=") {
			e, err := p.parseExpression(true)
			if err != nil {
				return err
			}
			pm.def = e
		} else if len(d.params) > 0 && d.params[len(d.params)-1].def != nil {
			return syntaxErr(t.line, "non-default argument follows default argument")
		}
		d.params = append(d.params, pm)
	}
	p.next()
	return nil
}

func (p *parser) parseMacroBody(d *macroDecl, end string) error {
	p.closures++
	saved := p.names
	p.names = map[string]bool{}
	body, err := p.subparse([]string{end})
	used := p.names
	p.names = saved
	for k := range used {
		saved[k] = true
	}
	if err != nil {
		return err
	}
	d.body = body
	d.catchVarargs = used["varargs"]
	d.catchKwargs = used["kwargs"]
	d.usesCaller = used["caller"]
	return p.endTag()
}

func (p *parser) parseMacro() (node, error) {
	p.next() // macro
	t := p.cur()
	if t.kind != tName {
		return nil, p.unexpected("name")
	}
	p.next()
	d := &macroDecl{name: t.val}
	if err := p.parseSignature(d); err != nil {
		return nil, err
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	if err := p.parseMacroBody(d, "endmacro"); err != nil {
		return nil, err
	}
	return &macroNode{decl: d}, nil
}

func (p *parser) parseCallBlock() (node, error) {
	line := p.next().line // call
	d := &macroDecl{name: "caller"}
	if p.isOp("(") {
		if err := p.parseSignature(d); err != nil {
			return nil, err
		}
	}
	e, err := p.parseExpression(true)
	if err != nil {
		return nil, err
	}
	ce, ok := e.(*callExpr)
	if !ok {
		return nil, syntaxErr(line, "expected call")
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	if err := p.parseMacroBody(d, "endcall"); err != nil {
		return nil, err
	}
	return &callBlockNode{call: ce, caller: d}, nil
}

func (p *parser) parseFilterBlock() (node, error) {
	p.next() // filter
	n := &filterBlockNode{}
	for {
		f, err := p.parseFilterCall(nil)
		if err != nil {
			return nil, err
		}
		n.filters = append(n.filters, f)
		if !p.skipOp("|") {
			break
		}
	}
	if err := p.expectBlockEnd(); err != nil {
		return nil, err
	}
	var err error
	n.body, err = p.subparse([]string{"endfilter"})
	if err != nil {
		return nil, err
	}
	return n, p.endTag()
}

func (p *parser) parseWith() (node, error) {
	p.next() // with
	n := &withNode{}
	for p.cur().kind != tBlockEnd {
		if len(n.tgts) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		tg, err := p.parseAssignTarget(false, true)
		if err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		e, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		n.tgts = append(n.tgts, tg)
		n.vals = append(n.vals, e)
	}
	p.next()
	var err error
	n.body, err = p.subparse([]string{"endwith"})
	if err != nil {
		return nil, err
	}
	return n, p.endTag()
}

// Expressions, following jinja2's parser precedence.

// parseTuple parses an expression or an implicit tuple `a, b`.
func (p *parser) parseTuple(withCond, simplified bool) (expr, error) {
	parse := func() (expr, error) {
		if simplified {
			return p.parsePrimaryPostfix()
		}
		return p.parseExpression(withCond)
	}
	var items []expr
	isTuple := false
	for {
		if len(items) > 0 {
			if !p.skipOp(",") {
				break
			}
			isTuple = true
		}
		if p.tupleEnd() {
			break
		}
		e, err := parse()
		if err != nil {
			return nil, err
		}
		items = append(items, e)
		if !p.isOp(",") {
			break
		}
	}
	if !isTuple {
		if len(items) == 0 {
			return nil, syntaxErr(p.cur().line, "Expected an expression, got '%s'", p.cur().describe())
		}
		return items[0], nil
	}
	return &listExpr{items: items, tuple: true}, nil
}

func (p *parser) tupleEnd() bool {
	t := p.cur()
	switch t.kind {
	case tVarEnd, tBlockEnd, tEOF:
		return true
	case tOp:
		return t.val == ")" || t.val == "]" || t.val == "}"
	case tName:
		return t.val == "in" || t.val == "recursive" || t.val == "if"
	}
	return false
}

func (p *parser) parseExpression(withCond bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if withCond {
		return p.parseCondExpr()
	}
	return p.parseOr()
}

func (p *parser) parseCondExpr() (expr, error) {
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	for p.skipName("if") {
		cond, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		var other expr
		if p.skipName("else") {
			other, err = p.parseExpression(true)
			if err != nil {
				return nil, err
			}
		}
		e = &condExpr{cond: cond, a: e, b: other}
	}
	return e, nil
}

func (p *parser) parseOr() (expr, error) {
	e, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.skipName("or") {
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		e = &orExpr{a: e, b: r}
	}
	return e, nil
}

func (p *parser) parseAnd() (expr, error) {
	e, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.skipName("and") {
		r, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		e = &andExpr{a: e, b: r}
	}
	return e, nil
}

func (p *parser) parseNot() (expr, error) {
	if p.skipName("not") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &notExpr{x: x}, nil
	}
	return p.parseCompare()
}

func (p *parser) parseCompare() (expr, error) {
	line := p.cur().line
	e, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	var ops []string
	var rest []expr
	for {
		t := p.cur()
		var op string
		switch {
		case t.kind == tOp && (t.val == "==" || t.val == "!=" || t.val == "<" || t.val == "<=" || t.val == ">" || t.val == ">="):
			op = t.val
			p.next()
		case p.isName("in"):
			op = "in"
			p.next()
		case p.isName("not") && p.peek().kind == tName && p.peek().val == "in":
			op = "notin"
			p.next()
			p.next()
		}
		if op == "" {
			break
		}
		r, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
		rest = append(rest, r)
	}
	if len(ops) == 0 {
		return e, nil
	}
	return &compareExpr{first: e, ops: ops, rest: rest, line: line}, nil
}

// The arithmetic levels, loosest first, are all left-associative.
func (p *parser) parseMath1() (expr, error)  { return p.parseBinary(p.parseConcat, "+", "-") }
func (p *parser) parseConcat() (expr, error) { return p.parseBinary(p.parseMath2, "~") }
func (p *parser) parseMath2() (expr, error)  { return p.parseBinary(p.parsePow, "*", "/", "//", "%") }
func (p *parser) parsePow() (expr, error) {
	return p.parseBinary(func() (expr, error) { return p.parseUnary(true) }, "**")
}

// parseBinary parses operand (op operand)* with ops of one precedence
// level, grouping to the left.
func (p *parser) parseBinary(operand func() (expr, error), ops ...string) (expr, error) {
	e, err := operand()
	if err != nil {
		return nil, err
	}
	for t := p.cur(); t.kind == tOp && slices.Contains(ops, t.val); t = p.cur() {
		p.next()
		r, err := operand()
		if err != nil {
			return nil, err
		}
		e = &binExpr{op: t.val, a: e, b: r, line: t.line}
	}
	return e, nil
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var e expr
	var err error
	switch {
	case p.isOp("-"):
		p.next()
		x, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		e = &negExpr{x: x, neg: true}
	case p.isOp("+"):
		p.next()
		x, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		e = &negExpr{x: x}
	default:
		e, err = p.parsePrimary()
		if err != nil {
			return nil, err
		}
	}
	e, err = p.parsePostfix(e)
	if err != nil {
		return nil, err
	}
	if withFilter {
		return p.parseFilterExpr(e)
	}
	return e, nil
}

func (p *parser) parsePrimaryPostfix() (expr, error) {
	e, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	return p.parsePostfix(e)
}

func (p *parser) parsePrimary() (expr, error) {
	t := p.cur()
	switch t.kind {
	case tName:
		p.next()
		switch t.val {
		case "true", "True":
			return &constExpr{v: true}, nil
		case "false", "False":
			return &constExpr{v: false}, nil
		case "none", "None":
			return &constExpr{v: nil}, nil
		}
		p.names[t.val] = true
		return &nameExpr{name: t.val, line: t.line}, nil
	case tString:
		p.next()
		s := t.val
		for p.cur().kind == tString {
			s += p.next().val
		}
		return &constExpr{v: s}, nil
	case tInt:
		p.next()
		n, err := strconv.ParseInt(t.val, 10, 64)
		if err != nil {
			return nil, syntaxErr(t.line, "integer literal %s out of range", t.val)
		}
		return &constExpr{v: n}, nil
	case tFloat:
		p.next()
		f, err := strconv.ParseFloat(t.val, 64)
		if err != nil {
			return nil, syntaxErr(t.line, "bad float literal %s", t.val)
		}
		return &constExpr{v: f}, nil
	case tOp:
		switch t.val {
		case "(":
			p.next()
			if p.skipOp(")") {
				return &listExpr{tuple: true}, nil
			}
			e, err := p.parseTuple(true, false)
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return e, nil
		case "[":
			p.next()
			l := &listExpr{}
			for !p.isOp("]") {
				if len(l.items) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("]") {
						break
					}
				}
				e, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				l.items = append(l.items, e)
			}
			p.next()
			return l, nil
		case "{":
			p.next()
			d := &dictExpr{}
			for !p.isOp("}") {
				if len(d.keys) > 0 {
					if err := p.expectOp(","); err != nil {
						return nil, err
					}
					if p.isOp("}") {
						break
					}
				}
				k, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				if err := p.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := p.parseExpression(true)
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
			}
			p.next()
			return d, nil
		}
	}
	if t.kind == tEOF || t.kind == tVarEnd || t.kind == tBlockEnd {
		return nil, syntaxErr(t.line, "unexpected '%s'", t.describe())
	}
	return nil, syntaxErr(t.line, "unexpected '%s'", t.describe())
}

func (p *parser) parsePostfix(e expr) (expr, error) {
	for {
		var err error
		switch {
		case p.isOp(".") || p.isOp("["):
			e, err = p.parseSubscript(e)
		case p.isOp("("):
			e, err = p.parseCall(e)
		default:
			return e, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (p *parser) parseFilterExpr(e expr) (expr, error) {
	for {
		var err error
		switch {
		case p.isOp("|"):
			p.next()
			e, err = p.parseFilterCall(e)
		case p.isName("is"):
			e, err = p.parseTest(e)
		case p.isOp("("):
			e, err = p.parseCall(e)
		default:
			return e, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (p *parser) parseSubscript(e expr) (expr, error) {
	t := p.next()
	if t.val == "." {
		a := p.cur()
		switch a.kind {
		case tName:
			p.next()
			return &getattrExpr{obj: e, attr: a.val, line: a.line}, nil
		case tInt:
			p.next()
			n, _ := strconv.ParseInt(a.val, 10, 64)
			return &getitemExpr{obj: e, key: &constExpr{v: n}, line: a.line}, nil
		}
		return nil, p.unexpected("name or number")
	}
	// [ ... ]
	var parts []expr
	isSlice := false
	var sl [3]expr
	idx := 0
	for !p.isOp("]") {
		if p.isOp(":") {
			p.next()
			isSlice = true
			idx++
			if idx > 2 {
				return nil, p.unexpected("']'")
			}
			continue
		}
		x, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		if p.isOp(",") && !isSlice {
			parts = append(parts, x)
			p.next()
			continue
		}
		sl[idx] = x
		if !p.isOp(":") && !p.isOp("]") {
			return nil, p.unexpected("']'")
		}
	}
	p.next()
	if isSlice {
		return &sliceExpr{obj: e, start: sl[0], stop: sl[1], step: sl[2]}, nil
	}
	if len(parts) > 0 {
		if sl[0] != nil {
			parts = append(parts, sl[0])
		}
		return &getitemExpr{obj: e, key: &listExpr{items: parts, tuple: true}, line: t.line}, nil
	}
	if sl[0] == nil {
		// x[] is jinja2 for x[()].
		return &getitemExpr{obj: e, key: &listExpr{tuple: true}, line: t.line}, nil
	}
	return &getitemExpr{obj: e, key: sl[0], line: t.line}, nil
}

func (p *parser) parseCallArgs() (callArgs, error) {
	var ca callArgs
	if err := p.expectOp("("); err != nil {
		return ca, err
	}
	first := true
	for !p.isOp(")") {
		if !first {
			if err := p.expectOp(","); err != nil {
				return ca, err
			}
			if p.isOp(")") {
				break
			}
		}
		first = false
		switch {
		case p.isOp("*"):
			p.next()
			e, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.dynArg = e
		case p.isOp("**"):
			p.next()
			e, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.dynKw = e
		case p.cur().kind == tName && p.peek().kind == tOp && p.peek().val == "=":
			name := p.next().val
			p.next()
			e, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.kwargs = append(ca.kwargs, kwarg{name: name, val: e})
		default:
			if len(ca.kwargs) > 0 || ca.dynArg != nil || ca.dynKw != nil {
				return ca, syntaxErr(p.cur().line, "Invalid argument syntax for call")
			}
			e, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.args = append(ca.args, e)
		}
	}
	p.next()
	return ca, nil
}

func (p *parser) parseCall(e expr) (expr, error) {
	line := p.cur().line
	ca, err := p.parseCallArgs()
	if err != nil {
		return nil, err
	}
	return &callExpr{fn: e, callArgs: ca, line: line}, nil
}

func (p *parser) dottedName() (string, int, error) {
	t := p.cur()
	if t.kind != tName {
		return "", 0, p.unexpected("name")
	}
	p.next()
	name := t.val
	for p.isOp(".") && p.peek().kind == tName {
		p.next()
		name += "." + p.next().val
	}
	return name, t.line, nil
}

func (p *parser) parseFilterCall(target expr) (*filterExpr, error) {
	name, line, err := p.dottedName()
	if err != nil {
		return nil, err
	}
	if _, ok := filters[name]; !ok {
		return nil, &Error{Kind: "TemplateAssertionError", Msg: "No filter named " + reprString(name) + ".", Line: line}
	}
	f := &filterExpr{target: target, name: name, line: line}
	if p.isOp("(") {
		f.callArgs, err = p.parseCallArgs()
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (p *parser) parseTest(e expr) (expr, error) {
	p.next() // is
	negated := p.skipName("not")
	name, line, err := p.dottedName()
	if err != nil {
		return nil, err
	}
	if _, ok := tests[name]; !ok {
		return nil, &Error{Kind: "TemplateAssertionError", Msg: "No test named " + reprString(name) + ".", Line: line}
	}
	t := &testExpr{target: e, name: name, line: line}
	c := p.cur()
	switch {
	case p.isOp("("):
		t.callArgs, err = p.parseCallArgs()
		if err != nil {
			return nil, err
		}
	case (c.kind == tName || c.kind == tString || c.kind == tInt || c.kind == tFloat || p.isOp("[") || p.isOp("{")) &&
		!(c.kind == tName && (c.val == "else" || c.val == "or" || c.val == "and")):
		if c.kind == tName && c.val == "is" {
			return nil, syntaxErr(c.line, "You cannot chain multiple tests with is")
		}
		arg, err := p.parsePrimaryPostfix()
		if err != nil {
			return nil, err
		}
		t.args = []expr{arg}
	}
	if negated {
		return &notExpr{x: t}, nil
	}
	return t, nil
}
