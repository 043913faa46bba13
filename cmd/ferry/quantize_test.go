package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/quant"
)

func runFerry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	rootCmd.SetOut(&stdout)
	rootCmd.SetErr(&stderr)
	rootCmd.SetArgs(args)
	defer rootCmd.SetArgs(nil)
	err := rootCmd.Execute()
	return stdout.String(), err
}

func TestQuantizeAndImatrixCommands(t *testing.T) {
	dir := testdata.Path(t, "models", "stories260K")
	in := filepath.Join(dir, "stories260K.gguf")
	tmp := t.TempDir()

	// A calibration text: the reference story, repeated.
	var golden struct {
		Greedy struct {
			GeneratedText string `json:"generated_text"`
		} `json:"greedy"`
	}
	b, _ := os.ReadFile(filepath.Join(dir, "golden.json"))
	json.Unmarshal(b, &golden)
	text := filepath.Join(tmp, "story.txt")
	os.WriteFile(text, []byte(strings.Repeat("Once upon a time"+golden.Greedy.GeneratedText+"\n", 4)), 0o644)

	im := filepath.Join(tmp, "im.gguf")
	out, err := runFerry(t, "imatrix", in, text, "-o", im, "--ctx", "128", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var ir struct {
		Entries, Chunks int
	}
	if err := json.Unmarshal([]byte(out), &ir); err != nil || ir.Entries != 35 || ir.Chunks < 4 {
		t.Fatalf("imatrix report %s (%v)", out, err)
	}

	q := filepath.Join(tmp, "q.gguf")
	out, err = runFerry(t, "quantize", in, q, "q4_k_m", "--imatrix", im, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Tensors []struct {
			Name, To string
		}
		OutBytes  uint64 `json:"out_bytes"`
		Fallbacks int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	f, err := gguf.Open(q)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ft, _ := f.Uint("general.file_type"); ft != uint64(quant.FileMostlyQ4_K_M) || len(f.Tensors) != 48 || rep.Fallbacks != 36 {
		t.Errorf("file type %d, %d tensors, %d fallbacks", ft, len(f.Tensors), rep.Fallbacks)
	}
	if ti, _ := f.Tensor("output.weight"); ti.Type != quant.Q8_0 {
		t.Errorf("output.weight is %s", ti.Type)
	}
	for _, tp := range rep.Tensors {
		if ti, ok := f.Tensor(tp.Name); !ok || ti.Type.String() != tp.To {
			t.Errorf("report says %s -> %s", tp.Name, tp.To)
		}
	}

	// --dry-run writes nothing; bad arguments are errors.
	if _, err := runFerry(t, "quantize", in, filepath.Join(tmp, "dry.gguf"), "Q6_K", "--dry-run", "--json=false", "--imatrix="); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "dry.gguf")); err == nil {
		t.Error("--dry-run wrote a file")
	}
	if _, err := runFerry(t, "quantize", in, filepath.Join(tmp, "x.gguf"), "Q9_X", "--dry-run=false"); err == nil {
		t.Error("unknown recipe accepted")
	}
	if _, err := runFerry(t, "quantize", in, filepath.Join(tmp, "x.gguf"), "Q4_K_M", "--output-tensor-type", "nope"); err == nil {
		t.Error("unknown --output-tensor-type accepted")
	}
}
