package imatrix

import (
	"errors"
	"testing"
)

// TestObserveFilter: only blk.* tensors, dense products from 16 rows on,
// expert products always (llama-imatrix's eval-callback rules).
func TestObserveFilter(t *testing.T) {
	c := NewCollector()
	x := make([]float32, 16*2)
	for i := range x {
		x[i] = float32(i%2 + 1)
	}
	c.Observe("output.weight", 0, 1, x, 16, 2)
	c.Observe("blk.0.attn_q.weight", 0, 1, x[:15*2], 15, 2)
	c.Observe("blk.0.attn_k.weight", 0, 1, x, 16, 2)
	c.Observe("blk.0.ffn_up_exps.weight", 2, 4, x[:2], 1, 2)
	d := c.Data("")
	if len(d.Entries) != 2 {
		t.Fatalf("entries %v", d.Entries)
	}
	if e := d.Entries["blk.0.attn_k.weight"]; e.Counts[0] != 16 || e.Sums[0] != 16 || e.Sums[1] != 64 {
		t.Errorf("attn_k: %+v", e)
	}
	if e := d.Entries["blk.0.ffn_up_exps.weight"]; len(e.Counts) != 4 || e.Counts[2] != 1 || e.Counts[0] != 0 || e.Sums[4] != 1 || e.Sums[5] != 4 {
		t.Errorf("ffn_up_exps: %+v", e)
	}
	c.Observe("blk.0.attn_k.weight", 0, 1, make([]float32, 16*3), 16, 3)
	if c.Err() == nil {
		t.Error("inconsistent width accepted")
	}
}

func TestRunChunks(t *testing.T) {
	c := NewCollector()
	tokens := []int32{9, 1, 2, 3, 9, 4, 5, 6, 9, 7}
	var seen [][]int32
	d, err := c.Run(tokens, RunOptions{Context: 4, AddBOS: true, BOS: 0}, func(ch []int32) error {
		seen = append(seen, append([]int32(nil), ch...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0][0] != 0 || seen[1][0] != 0 || seen[1][3] != 6 || d.ChunkCount != 2 || d.ChunkSize != 4 {
		t.Errorf("chunks %v, data %d×%d", seen, d.ChunkCount, d.ChunkSize)
	}
	if _, err := NewCollector().Run(tokens, RunOptions{Context: 4, Chunks: 1}, func(ch []int32) error {
		if ch[0] != 9 {
			t.Errorf("first token replaced without AddBOS: %v", ch)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := NewCollector().Run(tokens, RunOptions{Context: 11}, nil); err == nil {
		t.Error("fewer tokens than a chunk accepted")
	}
	boom := errors.New("boom")
	if _, err := NewCollector().Run(tokens, RunOptions{Context: 4}, func([]int32) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("eval error lost: %v", err)
	}
}
