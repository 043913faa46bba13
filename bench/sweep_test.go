package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/eval"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
)

func TestSweepStories(t *testing.T) {
	m, err := model.Open(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	spec := Spec{PromptTokens: 32, GenTokens: 8, Reps: 1}
	rows, err := Sweep(context.Background(), m, SweepOptions{
		Types: []string{"q8_0", "q4_0"}, Text: eval.SampleText, Ctx: 128, Spec: spec, TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Type != "source" || rows[1].Type != "Q8_0" || rows[2].Type != "Q4_0" {
		t.Fatalf("rows: %+v", rows)
	}
	src, q8, q4 := rows[0], rows[1], rows[2]
	if !(src.Bytes > q8.Bytes && q8.Bytes > q4.Bytes) || !(src.BPW > q8.BPW && q8.BPW > q4.BPW) {
		t.Errorf("sizes should shrink: %d %d %d bytes, %.2f %.2f %.2f bpw", src.Bytes, q8.Bytes, q4.Bytes, src.BPW, q8.BPW, q4.BPW)
	}
	if src.KLD != 0 || !(0 < q8.KLD && q8.KLD < q4.KLD) || q8.Top1 < q4.Top1 {
		t.Errorf("quality should degrade: KLD %v %v %v, top-1 %v %v", src.KLD, q8.KLD, q4.KLD, q8.Top1, q4.Top1)
	}
	if src.TG.Mean <= 0 || q4.TG.Mean <= 0 || src.PPL <= 1 {
		t.Errorf("speed/ppl missing: %+v", rows)
	}
	var b bytes.Buffer
	SweepTable(&b, rows, spec)
	if !strings.Contains(b.String(), "| Q4_0 |") {
		t.Errorf("table:\n%s", b.String())
	}
	t.Log("\n" + b.String())
}
