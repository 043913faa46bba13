package engine

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
)

// TestObserve checks the matrix-product hook on stories260K: it sees every
// block matrix of every layer once per step with the chunk's rows, layer 0's
// q/k/v input is exactly the RMS-normed embedding (recomputed here from the
// weights), and observing leaves the logits unchanged.
func TestObserve(t *testing.T) {
	g, _ := loadStoriesGolden(t)
	m, err := model.Open(filepath.Join(testdata.Path(t, "models", "stories260K"), "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids := g.Greedy.PromptIDs
	run := func(obs Observer) []float32 {
		e, err := Load(m, Options{Threads: 2, Context: 64, KVCacheType: "f32", Observe: obs})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		out, err := e.Step([]SeqTokens{{Seq: e.NewSeq(), Tokens: ids}})
		if err != nil {
			t.Fatal(err)
		}
		return append([]float32(nil), out[0]...)
	}
	calls := map[string]int{}
	var q0 []float32
	logits := run(func(w string, expert, experts int, x []float32, rows, cols int) {
		calls[w]++
		if expert != 0 || experts != 1 || len(x) != rows*cols {
			t.Errorf("%s: expert %d/%d, %d values for %d×%d", w, expert, experts, len(x), rows, cols)
		}
		wantRows := len(ids)
		if w == "output.weight" {
			wantRows = 1
		}
		if rows != wantRows {
			t.Errorf("%s: %d rows, want %d", w, rows, wantRows)
		}
		if w == "blk.0.attn_q.weight" {
			q0 = append([]float32(nil), x...)
		}
	})
	plain := run(nil)
	for i := range plain {
		if plain[i] != logits[i] {
			t.Fatalf("logit %d: %v with observer, %v without", i, logits[i], plain[i])
		}
	}
	layers, _ := m.ArchUint("block_count")
	for l := 0; l < int(layers); l++ {
		for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"} {
			name := "blk." + itoa(l) + "." + n + ".weight"
			if calls[name] != 1 {
				t.Errorf("%s observed %d times, want 1", name, calls[name])
			}
			delete(calls, name)
		}
	}
	delete(calls, "output.weight")
	for n := range calls {
		t.Errorf("unexpected observation of %s", n)
	}
	// Independent recomputation of layer 0's attention input.
	emb, norm := m.Tensor("token_embd.weight"), m.Tensor("blk.0.attn_norm.weight")
	dim := int(emb.Shape[0])
	w := make([]float32, dim)
	if err := quant.Dequantize(norm.Type, norm.Data, w); err != nil {
		t.Fatal(err)
	}
	eps, _ := m.ArchFloat("attention.layer_norm_rms_epsilon")
	rb := len(emb.Data) / int(emb.Shape[1])
	row := make([]float32, dim)
	for r, id := range ids {
		if err := quant.Dequantize(emb.Type, emb.Data[int(id)*rb:(int(id)+1)*rb], row); err != nil {
			t.Fatal(err)
		}
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		s := 1 / math.Sqrt(ss/float64(dim)+eps)
		for i, v := range row {
			want := float64(v) * s * float64(w[i])
			if got := float64(q0[r*dim+i]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
				t.Fatalf("blk.0.attn_q input [%d][%d] = %v, want %v", r, i, got, want)
			}
		}
	}
}

// TestObserveExperts checks that a stacked expert tensor reports each
// expert with its index and only the rows routed to it: per layer, the
// expert rows add up to tokens × experts used, and gate and up see the same
// rows.
func TestObserveExperts(t *testing.T) {
	dir, _ := loadOracle(t, "qwen3moe")
	m, err := model.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	used, _ := m.ArchUint("expert_used_count")
	nExp, _ := m.ArchUint("expert_count")
	ids := []int32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}
	rows := map[string]int{}
	sums := map[string]float64{}
	e, err := Load(m, Options{Threads: 2, Context: 64, KVCacheType: "f32", Observe: func(w string, expert, experts int, x []float32, n, cols int) {
		if !strings.Contains(w, "_exps.") {
			return
		}
		if experts != int(nExp) || expert < 0 || expert >= experts || n < 1 {
			t.Errorf("%s: expert %d of %d, %d rows", w, expert, experts, n)
		}
		layer := w[:strings.Index(w[4:], ".")+4]
		kind := w[len(layer)+1:]
		rows[layer+"/"+kind] += n
		if !strings.Contains(kind, "down") {
			var s float64
			for _, v := range x {
				s += float64(v) * float64(v)
			}
			sums[layer+"/"+itoa(expert)+"/"+kind] = s
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.Step([]SeqTokens{{Seq: e.NewSeq(), Tokens: ids}}); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no expert observations")
	}
	for k, n := range rows {
		if n != len(ids)*int(used) {
			t.Errorf("%s: %d routed rows, want %d", k, n, len(ids)*int(used))
		}
	}
	for k, s := range sums {
		if !strings.HasSuffix(k, "ffn_gate_exps.weight") {
			continue
		}
		up := strings.TrimSuffix(k, "ffn_gate_exps.weight") + "ffn_up_exps.weight"
		if sums[up] != s {
			t.Errorf("%s: gate and up inputs differ (%v vs %v)", k, s, sums[up])
		}
	}
}
