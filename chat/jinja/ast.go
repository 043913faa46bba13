package jinja

// Expression nodes.
type expr interface {
	eval(r *renderer, sc *scope) (Value, error)
}

type constExpr struct{ v Value }

type nameExpr struct {
	name string
	line int
}

type listExpr struct {
	items []expr
	tuple bool
}

type dictExpr struct{ keys, vals []expr }

type getattrExpr struct {
	obj  expr
	attr string
	line int
}

type getitemExpr struct {
	obj, key expr
	line     int
}

type sliceExpr struct {
	obj, start, stop, step expr
}

type kwarg struct {
	name string
	val  expr
}

type callArgs struct {
	args   []expr
	kwargs []kwarg
	dynArg expr // *args
	dynKw  expr // **kwargs
}

type callExpr struct {
	fn expr
	callArgs
	line int
}

type filterExpr struct {
	target expr // nil inside a {% filter %} block: the body text
	name   string
	callArgs
	line int
}

type testExpr struct {
	target expr
	name   string
	callArgs
	line int
}

type notExpr struct{ x expr }

type negExpr struct {
	x   expr
	neg bool
}

type binExpr struct {
	op   string
	a, b expr
	line int
}

type andExpr struct{ a, b expr }

type orExpr struct{ a, b expr }

type compareExpr struct {
	first expr
	ops   []string
	rest  []expr
	line  int
}

type condExpr struct {
	cond, a, b expr // b nil: undefined when cond is false
}

// Statement nodes.
type node interface {
	exec(r *renderer, sc *scope) error
}

type textNode struct{ s string }

type outputNode struct{ e expr }

type ifNode struct {
	conds  []expr
	bodies [][]node
	els    []node
}

// target is an assignment target: a name, a tuple of targets, or
// namespace.attr.
type target struct {
	name  string
	attr  string // for ns.attr
	items []*target
	tuple bool
}

type forNode struct {
	tgt       *target
	iter      expr
	filter    expr
	body, els []node
	recursive bool
	// captures is set when the body defines a macro or call block, which
	// keeps a reference to the iteration's scope; otherwise one scope is
	// reused (cleared) across iterations.
	captures bool
	line     int
}

type setNode struct {
	tgt *target
	e   expr
}

type setBlockNode struct {
	tgt     *target
	body    []node
	filters []*filterExpr
}

type param struct {
	name string
	def  expr // nil: required
}

type macroDecl struct {
	name   string
	params []param
	body   []node
	// usesCaller/varargs/kwargs mirror jinja2's detection of which
	// special names the body references.
	catchVarargs, catchKwargs, usesCaller bool
}

type macroNode struct{ decl *macroDecl }

type callBlockNode struct {
	call   *callExpr
	caller *macroDecl
}

type filterBlockNode struct {
	filters []*filterExpr
	body    []node
}

type withNode struct {
	tgts []*target
	vals []expr
	body []node
}

type breakNode struct{}

type continueNode struct{}

// Template is a parsed template, safe for concurrent Render calls.
type Template struct {
	body []node
}
