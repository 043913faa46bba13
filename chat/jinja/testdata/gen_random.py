#!/usr/bin/env python3
"""Random templates rendered by Python jinja2 (set up as gen_cases.py), for
diff_random_test.go. Usage: python3 gen_random.py SEED COUNT > cases.json"""
import json, random, sys
sys.path.insert(0, __import__('os').path.dirname(__import__('os').path.abspath(__file__)))
from gen_cases import env, V, msgs
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
lits = ["1", "0", "-3", "2.5", "0.1", "1e3", "'abc'", "'A b-c'", "''", "' x '", "none", "true", "false", "[1, 2, 3]", "[]", "['b', 'a']", "{'k': 1, 'a': 'v'}", "{}", "(1, 'x')", "'é🦙'", "'x\"y'", "\"it's\"", "'a\\nb'", "3", "7", "'10'", "'3.5'"]
names = ["n", "f", "s", "none", "d", "l", "e", "t", "messages", "tools", "messages[0]", "messages[-1]", "messages[2].tool_calls", "undefined_x", "d.a", "d['b']", "l[0]", "msgs[1].content", "tools[0].function"]
filters = ["trim", "length", "upper", "lower", "title", "capitalize", "list", "first", "last", "string", "int", "float", "abs", "tojson", "items", "join(',')", "join", "default('D')", "default('D', true)", "replace('a', 'X')", "sort", "reverse", "unique", "dictsort", "safe", "round", "round(1)", "indent(2)", "sum", "max", "min", "map('string')", "select", "reject", "wordcount", "center(7)", "batch(2)", "tojson(indent=2)", "e", "count", "truncate(5)", "format(1)"]
tests = ["defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence", "boolean", "true", "false", "odd", "even", "divisibleby(2)", "in([1, 'abc'])", "eq(1)", "callable", "lower", "upper", "sameas(none)"]
binops = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "and", "or", "**"]
methods = [".strip()", ".upper()", ".split()", ".split(',')", ".startswith('a')", ".endswith('c')", ".replace('b', 'Q')", ".title()", ".lower()", ".get('a')", ".get('z', 0)", ".keys()", ".values()", ".items()", ".lstrip('A')", ".rstrip()", ".find('b')", ".count('a')", ".index(1)", "[1:]", "[::-1]", "[-1]", "[0]", "[1:3]", ".content", ".role", "['role']"]
def atom(d):
    r = random.random()
    if d <= 0 or r < 0.3:
        return random.choice(lits + names)
    if r < 0.45: return expr(d-1) + " | " + random.choice(filters)
    if r < 0.55: return "(" + expr(d-1) + " is " + random.choice(["", "not "]) + random.choice(tests) + ")"
    if r < 0.7: return "(" + expr(d-1) + ")" + random.choice(methods)
    if r < 0.8: return "[" + ", ".join(expr(d-1) for _ in range(random.randint(0, 3))) + "]"
    if r < 0.85: return "(" + expr(d-1) + " if " + expr(d-1) + " else " + expr(d-1) + ")"
    if r < 0.9: return "not " + atom(d-1)
    return "(" + expr(d-1) + ")"
def expr(d):
    if random.random() < 0.5:
        return atom(d)
    return atom(d-1) + " " + random.choice(binops) + " " + atom(d-1)
def stmt(d):
    r = random.random()
    if d <= 0 or r < 0.35: return "{{ " + expr(2) + " }}"
    if r < 0.5: return "{% if " + expr(2) + " %}" + body(d-1) + "{% elif " + expr(1) + " %}" + body(d-1) + "{% else %}" + body(d-1) + "{% endif %}"
    if r < 0.65: return "{% for x in " + expr(1) + " %}{{ loop.index }}{{ x }}" + body(d-1) + "{% else %}E{% endfor %}"
    if r < 0.75: return "{% set y = " + expr(2) + " %}{{ y }}"
    if r < 0.8: return "{% for k, v in " + random.choice(["d.items()", "d|dictsort", "d|items", "[(1,2),(3,4)]"]) + " %}{{ k }}={{ v }};{% endfor %}"
    if r < 0.85: return "{% macro m(a, b=2) %}[{{ a }}|{{ b }}]{% endmacro %}{{ m(" + expr(1) + ") }}"
    ws = random.choice(["\n", "  \n", "\n  ", " ", ""])
    return ws + random.choice(["{%- ", "{% ", "{%+ "]) + "if " + expr(1) + random.choice([" -%}", " %}"]) + ws + body(d-1) + ws + random.choice(["{%- ", "{% "]) + "endif" + random.choice([" -%}", " %}"]) + ws
def body(d):
    return "".join(stmt(d) for _ in range(random.randint(1, 2)))
cases = []
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
import copy
ORIG = copy.deepcopy(dict(V, msgs=msgs))
for i in range(N):
    t = body(3)
    vars = copy.deepcopy(ORIG)
    c = {"template": t}
    try:
        c["output"] = env.from_string(t).render(**vars)
    except Exception as ex:
        c["error"] = f"{type(ex).__name__}: {ex}"
    cases.append(c)
json.dump({"vars": ORIG, "cases": cases}, sys.stdout, ensure_ascii=False)
