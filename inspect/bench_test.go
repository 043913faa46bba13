package inspect

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/atomicfile"
	"github.com/ferryhq/ferry/quant"
)

// writeSynthetic writes a llama-shaped GGUF with layers·9 tiny tensors and
// a 32000-token vocabulary, the header shape of a real large model.
func writeSynthetic(tb testing.TB, path string, layers int) {
	w := gguf.NewWriter()
	w.Set("general.architecture", "llama")
	w.Set("llama.block_count", uint32(layers))
	w.Set("llama.embedding_length", uint32(32))
	w.Set("llama.attention.head_count", uint32(4))
	w.Set("llama.attention.head_count_kv", uint32(4))
	w.Set("llama.context_length", uint32(4096))
	w.Set("llama.feed_forward_length", uint32(64))
	toks := make([]string, 32000)
	scores := make([]float32, len(toks))
	for i := range toks {
		toks[i] = fmt.Sprintf("tok%d", i)
	}
	w.Set("tokenizer.ggml.model", "llama")
	w.Set("tokenizer.ggml.tokens", toks)
	w.Set("tokenizer.ggml.scores", scores)
	data := make([]byte, 32*4)
	for l := 0; l < layers; l++ {
		for _, n := range []string{"attn_q", "attn_k", "attn_v", "attn_output", "attn_norm", "ffn_gate", "ffn_up", "ffn_down", "ffn_norm"} {
			if err := w.AddTensorData(fmt.Sprintf("blk.%d.%s.weight", l, n), quant.F32, []uint64{32}, data); err != nil {
				tb.Fatal(err)
			}
		}
	}
	f, err := atomicfile.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Abort()
	if _, err := w.WriteTo(f); err != nil {
		tb.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkInspect measures a full report (header parse, histogram,
// metadata conversion) on a GGUF with 4500 tensors.
func BenchmarkInspect(b *testing.B) {
	path := filepath.Join(b.TempDir(), "synthetic.gguf")
	writeSynthetic(b, path, 500)
	st, _ := os.Stat(path)
	b.ReportMetric(float64(st.Size())/1e6, "file-MB")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := Path(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if r.TensorCount != 4500 {
			b.Fatalf("%d tensors", r.TensorCount)
		}
	}
}

func TestSynthetic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "synthetic.gguf")
	writeSynthetic(t, path, 50)
	r, err := Path(path, Options{Ctx: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// 2 · 50 layers · 1000 · 4 heads · 8 dims · 2 bytes
	if r.TensorCount != 450 || r.Parameters != 450*32 || r.Vocab.Size != 32000 || r.Memory.KVCache != 2*50*1000*4*8*2 {
		t.Fatalf("%+v %+v", r, r.Memory)
	}
}
