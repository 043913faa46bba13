#!/usr/bin/env python3
"""Regenerates cases.json: small templates rendered by Python jinja2 set up as
transformers' apply_chat_template does (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, HF's tojson, raise_exception,
strftime_now fixed at 2026-01-15 12:00:00). Run: python3 gen_cases.py > cases.json
"""
import copy, json, sys
from datetime import datetime
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda f: datetime(2026, 1, 15, 12, 0, 0).strftime(f)

msgs = [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi é 🦙"},
        {"role": "assistant", "content": "Yo", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"b": 1, "a": [1.5, None, True, "x\"y"]}}}]},
        {"role": "tool", "content": "{\"r\": 2}", "tool_call_id": "c1"}]
V = {"messages": msgs, "bos_token": "<s>", "eos_token": "</s>", "add_generation_prompt": True,
     "tools": [{"type": "function", "function": {"name": "get", "description": "Get it", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
     "n": 3, "f": 2.5, "s": "  Hello World  ", "none": None, "d": {"b": 2, "a": 1, "C": 3}, "l": [3, 1, 2], "e": [], "t": "a,b,,c"}

ORIG = copy.deepcopy(dict(V, msgs=msgs))

T = r"""
{{ 1 }}|{{ 1.0 }}|{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ 10 / 4 }}|{{ 10 // 4 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}|{{ 7 / 7 }}
{{ none }}|{{ true }}|{{ [1, 'a', none, true, 1.5] }}|{{ {'a': 1, 'b': 'x'} }}|{{ (1,) }}|{{ (1, 2) }}|{{ "it's" }}|{{ ['it\'s', "q\"", 'b\\s', 'n\nl'] }}
{{ s | trim }}|{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ s | upper }}|{{ s | lower }}|{{ 'hello wORLD-foo(bar' | title }}|{{ 'hello wORLD' | capitalize }}|{{ "o'neil mc-d x" .title() }}
{{ s | length }}|{{ l | length }}|{{ d | length }}|{{ undefined_thing | length }}|{{ 'é🦙' | length }}
{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ msgs | tojson }}|{{ messages[2].tool_calls | tojson(indent=4) }}|{{ 'é\u2028\x01' | tojson }}|{{ {'k': 1.0, 'z': 1e100} | tojson(separators=(',', ':')) }}|{{ d | tojson(sort_keys=true) }}|{{ 'é' | tojson(ensure_ascii=true) }}
{{ d | items | list }}|{{ d | dictsort }}|{{ d | dictsort(reverse=true) }}|{{ d | dictsort(by='value') }}|{{ d.keys() | list }}|{{ d.values() | list }}|{{ d.items() | list }}
{{ messages | selectattr('role', 'equalto', 'user') | list | length }}|{{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | join(',') }}|{{ l | select('odd') | list }}|{{ l | reject('even') | list }}|{{ messages | map(attribute='content') | map('upper') | list }}
{{ l | first }}|{{ l | last }}|{{ e | first }}|{{ l | join('-') }}|{{ l | sort }}|{{ l | sort(reverse=true) }}|{{ l | max }}|{{ l | min }}|{{ l | sum }}|{{ l | reverse | list }}|{{ 'abc' | reverse }}|{{ ['b','A','a'] | sort }}|{{ ['b','A','a'] | unique | list }}
{{ x | default('dflt') }}|{{ '' | default('dflt') }}|{{ '' | default('dflt', true) }}|{{ none | default('z') }}|{{ none | d('z', boolean=true) }}
{{ t.split(',') }}|{{ t.split(',', 1) }}|{{ '  a  b '.split() }}|{{ t.rsplit(',', 1) }}|{{ 'abc'.replace('b', 'X') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'abc'.startswith('a') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'abc'.find('c') }}|{{ 'a{}b{x}'.format(1, x=2) }}
{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ 'hello'[-2:] }}|{{ l[1:] }}|{{ l[:-1] }}|{{ l[::2] }}|{{ messages[-1].role }}|{{ 'é🦙x'[1] }}|{{ l[10] }}|{{ messages[1:3] | map(attribute='role') | list }}
{{ 'a' in 'abc' }}|{{ 1 in l }}|{{ 'a' in d }}|{{ 'z' not in d }}|{{ 1 < 2 < 3 }}|{{ 1 == 1.0 }}|{{ 'a' ~ 1 ~ none ~ 2.0 }}|{{ 'ab' * 2 }}|{{ [1] + [2] }}|{{ 1 if 0 else 2 }}|{{ 'x' if none }}|{{ 0 or 'y' }}|{{ 1 and 'z' }}|{{ not 1 }}
{{ x is defined }}|{{ n is defined }}|{{ none is none }}|{{ s is string }}|{{ d is mapping }}|{{ l is iterable }}|{{ d is sequence }}|{{ n is number }}|{{ f is float }}|{{ n is integer }}|{{ true is boolean }}|{{ n is odd }}|{{ 4 is divisibleby 2 }}|{{ 'a' is in 'abc' }}|{{ n is not none }}|{{ true is number }}|{{ s is lower }}|{{ 'AB' is upper }}|{{ 3 is gt 2 }}|{{ d.get is callable }}
{{ n | string }}|{{ '42' | int }}|{{ '4.5' | float }}|{{ 'x' | int }}|{{ 3.7 | int }}|{{ 2.5 | round }}|{{ 3.14159 | round(2) }}|{{ 3 | round }}|{{ -3 | abs }}|{{ 'a\nb' | indent(2) }}|{{ 'a\n\nb' | indent(2, true) }}|{{ '<b>x</b>  y' | striptags }}|{{ '<&>' | escape }}|{{ 'x' | safe }}
{{ "%s is %d years" | format('Bob', 5) }}|{{ "%05.1f|%x|%r" % (3.14159, 255, 'q') }}|{{ 'a b c' | wordcount }}|{{ 'abc' | center(9) }}|{{ [1,2,3,4,5] | batch(2) | list }}|{{ 'hello world foo bar' | truncate(9) }}
{{ strftime_now('%Y-%m-%d %H:%M:%S %d %b %Y %A %B %-d %j %p %I') }}
{{ range(3) | list }}|{{ range(1, 10, 3) | list }}|{{ range(5, 0, -2) | list }}|{{ dict(a=1, b=2) }}|{{ namespace(a=1).a }}
"""

def case(tmpl, **extra):
    # Fresh copies: some filters mutate their input in Python (indent on a
    # list appends to it), which must not leak into later cases.
    vars = copy.deepcopy(ORIG)
    vars.update(extra)
    c = {"template": tmpl, "vars": copy.deepcopy(vars)}
    try:
        c["output"] = env.from_string(tmpl).render(**vars)
    except Exception as e:
        c["error"] = f"{type(e).__name__}: {e}"
    return c

if __name__ == "__main__":
    cases = []
    for line in T.strip("\n").split("\n"):
        for part in line.split("|"):
            pass
        cases.append(case(line))

    blocks = [
        "{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem.role if not loop.first }}{{ loop.nextitem.role if not loop.last }}{{ loop.cycle('a','b') }}\n{% endfor %}",
        "{% for m in messages if m.role != 'system' %}{{ loop.index }}:{{ m.role }} {% endfor %}",
        "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
        "{% for k, v in d.items() %}{{ k }}={{ v }};{% else %}empty{% endfor %}{% for x in e %}{{ x }}{% else %}empty{% endfor %}",
        "{% for a in [1,2] %}{% for b in [3,4] %}{{ loop.index }}{{ a }}{{ b }} {% endfor %}{{ loop.index }}{% endfor %}",
        "{% set x = 1 %}{% for i in range(3) %}{% set x = i %}{{ x }}{% endfor %}{{ x }}",
        "{% set ns = namespace(x=0, l=[]) %}{% for i in range(4) %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}",
        "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c }}",
        "{% set block %}\n  inner {{ n }}\n{% endset %}[{{ block }}]",
        "{% set up | upper %}abc{% endset %}{{ up }}",
        "{% macro m(a, b='B', c=none) %}{{ a }}{{ b }}{{ c }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1) }}|{{ m(1, 2, 3, 4, z=5) }}|{{ m(b=9, a=8) }}",
        "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1, 2) }}",
        "{% macro m(a) %}{{ a }}{% endmacro %}{{ m(q=2) }}",
        "{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}",
        "{% macro wrap(t) %}<{{ t }}:{{ caller() }}>{% endmacro %}{% call wrap('x') %}body {{ n }}{% endcall %}",
        "{% macro wrap() %}{% for i in [1,2] %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(v) wrap() %}<{{ v }}>{% endcall %}",
        "{% filter upper %}hello {{ s }}{% endfilter %}",
        "{% with a = 5, b = n %}{{ a + b }}{% endwith %}{{ a }}",
        "{% macro r(k) %}{% if k > 0 %}{{ k }}{{ r(k - 1) }}{% endif %}{% endmacro %}{{ r(5) }}",
        "{% if n > 5 %}big{% elif n > 2 %}mid{% else %}small{% endif %}",
        "  {% if true %}\n    yes\n  {% endif %}\n  {{ n }}\n  {%+ if true %}plus{% endif %}\n{%- if true -%}\n  strip  \n{%- endif %}\nend",
        "a\n{# comment #}\nb\n  {# indented comment #}\nc {#- left -#} d\n",
        "{% raw %}{{ not rendered }}{% endraw %}\n{%- raw -%}  x  {%- endraw %}",
        "x {{- ' y ' -}} z\n{{ n }}\n{% if true %}\n\tt\n{% endif %}",
        "{{ raise_exception('boom: ' ~ n) }}",
        "{{ undefined_var.attr }}",
        "{{ d.missing.attr }}",
        "{{ messages[10].role }}",
        "{{ 1 + 'a' }}",
        "{{ 'a' + 1 }}",
        "{{ 1 < 'a' }}",
        "{{ none.x }}",
        "{{ x | tojson }}",
        "{{ range(1000000) | length }}",
        "{{ l.append(4) }}",
        "{% set x = [1] %}{% set _ = x.append(2) %}{{ x }}",
        "{{ d.update({'z': 1}) }}",
        "{% for %}",
        "{% if true %}never closed",
        "{% endfor %}",
        "{{ 1 +* 2 }}",
        "{{ foo | nosuchfilter }}",
        "{{ foo is nosuchtest }}",
        "{% generation %}x{% endgeneration %}",
        "{% if true %}{% generation %}{% endif %}",
        "{% for x in l %}{% macro m() %}{% endmacro %}{% endfor %}ok",
        "{{ 'a' 'b' }}|{{ \"\\u00e9\\x41\\n\" }}|{{ 1_000 }}|{{ 0.5e1 }}",
        "{{ messages[0]['content'] }}{{ messages[0].content }}{{ messages[0].get('content') }}{{ messages[0].get('nope', 'dd') }}{{ messages[0].get('nope') }}",
        "{% for tool in tools %}{{ tool.function.name }}:{{ tool['function']['parameters']['properties'] | tojson }}{% endfor %}",
        "{% for m in messages %}{% if m.tool_calls is defined %}{% for tc in m.tool_calls %}{{ tc.function.arguments | tojson }}{% endfor %}{% endif %}{% endfor %}",
        "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] | trim + eos_token }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}",
        "{{ -1 | abs }}|{{ -n }}|{{ +n }}|{{ - 2 ** 2 }}|{{ (1, 2)[0] }}|{{ {'a': {'b': [1, {'c': 'deep'}]}}.a.b[1].c }}",
        "{{ 'abc' is sequence }}|{{ 1 is iterable }}|{{ none is mapping }}|{{ namespace() is mapping }}",
        "{% set x %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}{{ x | length }}",
        "{{ l | map('string') | join }}|{{ l | join(', ') }}|{{ messages | map(attribute='nope', default='D') | list }}",
        "{{ 'x'.upper() }}{{ 'X'.lower() }}{{ 'ab'.title() }}{{ 'ab'.capitalize() }}{{ 'a-b'.split('-') }}",
        "{{ d['a'] }}{{ d.a }}{{ d['zz'] }}{{ d.items is defined }}",
        "{%- for m in messages -%}\n  {%- if loop.first -%}\n    first\n  {%- endif %}\n{{ m.role }}\n{% endfor -%}",
        "{{ 7 % 0 }}",
        "{{ 1 / 0 }}",
        "{{ '%d items' % n }}",
        "{{ 3 * 'ab' }}|{{ 2.0 * 3 }}|{{ 1 - 0.5 }}|{{ 2 ** -1 }}|{{ 2 ** 0.5 }}",
        "{{ 1e16 }}|{{ 1.5e-5 }}|{{ 123456789.0 }}|{{ 0.0001 }}|{{ 1e15 }}|{{ -0.0 }}",
        "{{ tools | tojson(indent=2) }}",
        "{{ [] | tojson(indent=2) }}{{ {} | tojson(indent=2) }}{{ [[]] | tojson(indent=1) }}",
        "{{ 'é' | upper }}|{{ 'straße' | upper }}|{{ 'ÉCOLE' | lower }}",
        "{% if messages[0].role == 'system' %}{% set sys = messages[0].content %}{% set rest = messages[1:] %}{% endif %}{{ sys }}|{{ rest | length }}",
        "{{ loop }}",
        "{% for x in 5 %}{% endfor %}",
        "{% for a, b in [[1, 2], [3]] %}{{ a }}{% endfor %}",
        "{{ ''.join(['a', 'b']) }}|{{ ', '.join(l | map('string')) }}",
        "{{ messages | length > 2 }}{{ (messages | length) > 2 }}",
        "{{ 'a' if true else 'b' if false else 'c' }}",
        "{% set d2 = {'x': 1} %}{{ d2.x }}{{ d2['x'] }}",
        "{{ n is eq 3 }}{{ n is sameas 3 }}{{ none is sameas none }}{{ 'a' is eq 'a' }}",
        "{{ messages[2].tool_calls[0].function.arguments.a[0] }}",
        "{{ s[:5] ~ '|' ~ s[-5:] }}",
        "{{ '%s' | format(l) }}",
        "{{ x.y }}",
        "{{ x['y'] }}",
        "{{ x() }}",
        "{{ range(3)[1] }}|{{ range(3) | list }}",
        "{{ [1,2,3] | select('gt', 1) | list }}|{{ [1,2,3] | select('in', [2, 3]) | list }}",
        "{{ strftime_now('%d %B %Y') }}",
        "{% for i in range(3) recursive %}{{ i }}{% endfor %}",
        # Generators (map/select/reject/selectattr/unique/batch/items), views, edge arithmetic.
        "{{ 'yes' if messages | selectattr('role', 'eq', 'nobody') else 'no' }}|{{ not (l | select) }}|{{ messages | selectattr('role', 'eq', 'user') | list | length }}",
        "{{ messages | selectattr('role', 'eq', 'user') | length }}",
        "{% set g = l | map('string') %}{% for x in g %}{{ x }}{% endfor %}|{% for x in g %}{{ x }}{% else %}empty{% endfor %}",
        "{{ d.keys() }}|{{ d.values() }}|{{ d.items() }}|{{ d.keys() | length }}|{{ 'a' in d.keys() }}|{{ range(3) }}|{{ range(1, 9, 2) }}|{{ range(5)[1:3] | list }}",
        "{{ d.keys() | tojson }}",
        "{{ (l | reverse) | list }}|{{ l | reverse | first }}|{{ d | reverse | list }}",
        "{{ l | select | last }}",
        "{{ none | unique | length }}",
        "{% if none | unique %}lazy{% endif %}",
        "{{ 1 // 0.1 }}|{{ -7.5 // 2 }}|{{ 7.5 % -2 }}|{{ -0.0 // 1 }}|{{ 5 / 0.5 }}",
        "{{ 1 / 0.0 }}",
        "{{ [undefined_x, s] }}|{{ {'a': undefined_x} }}",
        "{{ l | indent(2) }}",
        "{% set y = 7 %}{{ y[1:3] }}",
        "{% set y = none %}{{ y[1:] }}",
        "{{ d[1:] }}",
        "{{ 'abc' % l }}|{{ 'abc' % d }}|{{ '%s!' % l }}",
        "{{ 'abc' % (1,) }}",
        "{{ l[] }}",
        "{{ undefined_x in d }}|{{ undefined_x in [] }}",
        "{{ undefined_x in 'abc' }}",
        "{{ e | truncate(5) }}|{{ s | truncate(5) }}",
        "{{ n | truncate(5) }}",
        "{{ [] | max }}|{{ l | max }}",
        "{{ d | batch(2) | list }}|{{ d | items | list }}",
        "{{ strftime_now('%c|%x|%X|%Z|%z|%P|%k|%l|%C|%g|%G|%V|%U|%W|%u|%w|%y|%e|%D|%F|%T|%R|%%|%-m/%-d/%Y|%-I%p') }}",
        # Rarer filters.
        "{% for g in messages | groupby('role') %}{{ g.grouper }}:{{ g.list | length }};{% endfor %}|{% for k, items in [{'a': 'X'}, {'a': 'x'}, {'a': 'y'}] | groupby('a') %}{{ k }}={{ items | length }};{% endfor %}",
        "{{ [1,2,3,4,5] | slice(3) | list }}|{{ [1,2,3,4] | slice(3, 0) | list }}",
        "{{ 'a long line of words that goes on' | wordwrap(10) }}|{{ 'abcdefghijklmnop' | wordwrap(5) }}",
        "{{ 'a b/c?d=é' | urlencode }}|{{ {'q': 'a b', 'n': 1} | urlencode }}",
        "{{ 1 | filesizeformat }}|{{ 999 | filesizeformat }}|{{ 123456 | filesizeformat }}|{{ 1048576 | filesizeformat(true) }}",
        "{{ {'class': 'x<y', 'id': none, 'data': 1} | xmlattr }}",
        "{{ 'see http://x.org now' | urlize }}",
        # Scoping, loops, macros, string formatting, numbers, JSON.
        "{% set x = 1 %}{% for i in range(2) %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}",
        "{% set x = 1 %}{% for i in range(2) %}{% if i %}{{ x }}{% endif %}{% set x = 5 %}{% endfor %}{{ x }}",
        "{% macro m() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ m() }}{% set x = 2 %}{{ m() }}",
        "{% set x = 1 %}{% macro m() %}{% set x = 3 %}{{ x }}{% endmacro %}{{ m() }}{{ x }}",
        "{% for i in range(2) %}{% set y = i %}{% endfor %}{{ y }}",
        "{% if true %}{% set z = 4 %}{% endif %}{{ z }}",
        "{% set a = 1 %}{% with %}{% set a = 2 %}{{ a }}{% endwith %}{{ a }}",
        "{% for i in range(2) %}{% for j in range(2) %}{% set k = i * j %}{% endfor %}{{ k }}{% endfor %}",
        "{% macro outer() %}{% macro inner() %}in{% endmacro %}{{ inner() }}{% endmacro %}{{ outer() }}",
        "{% set ns = namespace(v=[]) %}{% for i in range(3) %}{% set ns.v = ns.v + [i] %}{% endfor %}{{ ns.v }}",
        "{% macro m(x) %}{{ x }}{{ caller is defined }}{% endmacro %}{{ m(1) }}",
        "{% macro m() %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, a=2) }}",
        "{% set m = 'str' %}{% macro m() %}mac{% endmacro %}{{ m() }}",
        "{{ loop is defined }}{% for i in [1] %}{{ loop is defined }}{% endfor %}",
        "{% for i in [1,2] %}{{ loop.changed(i) }}{{ loop.changed(1) }}{% endfor %}",
        "{% for i in [[1,2],[3,4]] %}{% for j in i %}{{ loop.depth }}{{ loop.depth0 }}{% endfor %}{% endfor %}",
        "{% for a, b in {'x': 1}.items() %}{{ a }}{{ b }}{% endfor %}",
        "{% set t = (1, 2) %}{% set a, b = t %}{{ a + b }}",
        "{{ 'a' ~ (1 if false) ~ 'b' }}",
        "{{ (none if false) is defined }}",
        "{% filter upper %}{% for i in range(2) %}x{{ i }}{% endfor %}{% endfilter %}",
        "{% set x = 'outer' %}{% call(v) (caller_m()) %}{% endcall %}",
        "{%- macro f(a) -%}{{ a }}{%- endmacro -%}{{ f('A' ~ 'B') | lower }}",
        "{{ messages }}",
        "{{ range(3) | join(',') }}|{{ range(3) | tojson }}",
        "{% for x in range(3) %}{{ x }}{% if x == 1 %}{% break %}{% endif %}{% else %}else{% endfor %}",
        "{{ '{:>5}|{:<4}|{:^6}|{:.2f}|{:05d}'.format('a', 'b', 'c', 3.14159, 42) }}",
        "{{ '%-5s|%5.2f|%03d|%+d' % ('a', 3.14159, 7, 5) }}",
        "{{ 'Hello World'.split(' ', 1) }}|{{ 'a b  c'.split(' ') }}|{{ '  '.split() }}|{{ ''.split(',') }}",
        "{{ 'x'.center(6, '*') }}|{{ 'ab'.ljust(5, '.') }}|{{ 'ab'.rjust(5) }}|{{ '7'.zfill(3) }}|{{ '-7'.zfill(4) }}",
        "{{ 'AbC'.swapcase() }}|{{ 'hello world'.capitalize() }}|{{ 'hELLO wORLD'.title() }}|{{ \"they're bill's\".title() }}",
        "{{ 'a,b'.partition(',') }}|{{ 'a.b.c'.rpartition('.') }}|{{ 'abc'.removeprefix('a') }}",
        "{{ '123'.isdigit() }}{{ 'abc'.isalpha() }}{{ 'Ab'.istitle() }}{{ ' '.isspace() }}{{ 'ab'.islower() }}{{ 'AB1'.isupper() }}",
        "{{ 'a\\r\\nb\\nc'.splitlines() }}|{{ 'x\\n'.splitlines(true) }}",
        "{{ 'abcabc'.rfind('b') }}|{{ 'abc'.index('c') }}|{{ 'aaa'.count('a') }}",
        "{{ 0.1 * 3 }}|{{ 1/3 }}|{{ 2.0 ** 100 }}|{{ 1e-7 }}|{{ 123456789012345678.0 }}",
        "{{ -1 // 3 }}|{{ -1 % 3 }}|{{ 5 // -2 }}|{{ 5 % -2 }}",
        "{{ 3 | round(0, 'floor') }}|{{ 2.675 | round(2) }}|{{ -2.5 | round }}|{{ 1.5 | round }}|{{ 3.7 | round(0, 'ceil') }}",
        "{{ 'x' | tojson(indent='\\t') }}|{{ {'a': [1, {'b': 2}]} | tojson(indent='--') }}",
        "{{ {1: 'a', 2.5: 'b', true: 'c', none: 'd'} | tojson }}",
        "{{ {'b': 1, 'a': 2} | tojson(sort_keys=true, indent=1) }}",
        "{{ [1.0, 1e20, 1e-5, 3.14, -0.0] | tojson }}",
        "{{ 'é\\u0000\\u001f\\u007f\\u2028' | tojson }}|{{ 'é🦙' | tojson(ensure_ascii=true) }}",
    ]
    for b in blocks:
        cases.append(case(b))

    json.dump(cases, sys.stdout, ensure_ascii=False, indent=1)
