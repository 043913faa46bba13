package grammar

import "sort"

// btrie is a small byte trie of strings (object keys, enum literals).
// Node 0 is the root.
type btrie struct {
	edges [][]tedge
	term  []int32   // value index ending at the node, or -1
	sub   [][]int32 // sorted value indices in the node's subtree
}

type tedge struct {
	b  byte
	to int32
}

func (t *btrie) init() {
	t.edges = [][]tedge{nil}
	t.term = []int32{-1}
}

func (t *btrie) child(n int32, b byte) int32 {
	for _, e := range t.edges[n] {
		if e.b == b {
			return e.to
		}
	}
	return -1
}

func (t *btrie) insert(s []byte, v int32) {
	n := int32(0)
	for _, b := range s {
		next := t.child(n, b)
		if next < 0 {
			next = int32(len(t.edges))
			t.edges = append(t.edges, nil)
			t.term = append(t.term, -1)
			t.edges[n] = append(t.edges[n], tedge{b, next})
		}
		n = next
	}
	if t.term[n] < 0 {
		t.term[n] = v
	}
}

// finishSub fills sub: the values reachable below each node.
func (t *btrie) finishSub() {
	t.sub = make([][]int32, len(t.edges))
	var walk func(n int32) []int32
	walk = func(n int32) []int32 {
		var out []int32
		if t.term[n] >= 0 {
			out = append(out, t.term[n])
		}
		for _, e := range t.edges[n] {
			out = append(out, walk(e.to)...)
		}
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		t.sub[n] = out
		return out
	}
	walk(0)
}
