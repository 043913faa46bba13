package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/quant"
)

func writeGGUF(t *testing.T, p string, body string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("GGUF"+body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func testStore(t *testing.T) *Store {
	return &Store{Dir: filepath.Join(t.TempDir(), "ferry")}
}

func TestParseName(t *testing.T) {
	for in, want := range map[string]string{
		"llama3":                         "ferry.local/library/llama3:latest",
		"llama3:8b":                      "ferry.local/library/llama3:8b",
		"me/m:q4":                        "ferry.local/me/m:q4",
		"hf.co/org/repo:Q4_K_M":          "hf.co/org/repo:Q4_K_M",
		"registry.ollama.ai/library/x:1": "registry.ollama.ai/library/x:1",
	} {
		n, err := ParseName(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := n.Host + "/" + n.Namespace + "/" + n.Model + ":" + n.Tag; got != want {
			t.Errorf("%s: got %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"", "a/b/c/d", "../x", "x:..", "a b", "x:/y"} {
		if _, err := ParseName(bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
}

func TestModelfile(t *testing.T) {
	mf, err := ParseModelfile(`# a comment
FROM ./model.gguf
PARAMETER temperature 0.5
PARAMETER stop "<|eot|>"
PARAMETER stop END
PARAMETER num_ctx 2048
TEMPLATE """{{ .System }}
{{ .Prompt }}"""
SYSTEM You are terse.
MESSAGE user hello
MESSAGE assistant """hi
there"""
LICENSE MIT
`)
	if err != nil {
		t.Fatal(err)
	}
	if mf.From != "./model.gguf" || *mf.Template != "{{ .System }}\n{{ .Prompt }}" || *mf.System != "You are terse." {
		t.Fatalf("%+v", mf)
	}
	if mf.Params["temperature"] != 0.5 || mf.Params["num_ctx"] != 2048 || len(mf.Params["stop"].([]string)) != 2 {
		t.Fatalf("params %v", mf.Params)
	}
	if len(mf.Messages) != 2 || mf.Messages[1].Content != "hi\nthere" || mf.License[0] != "MIT" {
		t.Fatalf("%+v", mf)
	}
	for _, bad := range []string{
		"PARAMETER temperature 1",           // no FROM
		"FROM x\nADAPTER ./lora.gguf",       // unsupported
		"FROM x\nPARAMETER num_ctx lots",    // bad int
		"FROM x\nPARAMETER bogus 1",         // unknown
		"FROM x\nMESSAGE wizard hi",         // bad role
		"FROM x\nSYSTEM \"\"\"never closed", // unterminated
		"FROM x\nFROBNICATE",                // unknown instruction
	} {
		if _, err := ParseModelfile(bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
	if _, err := ParseModelfile("FROM x\nADAPTER y"); err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("ADAPTER error: %v", err)
	}
}

func TestCreateLinksListCopyDelete(t *testing.T) {
	s := testStore(t)
	src := filepath.Join(filepath.Dir(s.Dir), "w", "m.gguf")
	writeGGUF(t, src, strings.Repeat("x", 1000))
	mf, err := ParseModelfile("FROM ./m.gguf\nSYSTEM be brief\nPARAMETER temperature 0.1")
	if err != nil {
		t.Fatal(err)
	}
	mf.Dir = filepath.Dir(src)
	m, err := s.Create("mine", mf, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "mine:latest" || m.System != "be brief" || m.Params["temperature"] != 0.1 || m.Source != SourceFerry {
		t.Fatalf("%+v", m)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(m.Path)
	if !os.SameFile(a, b) {
		t.Errorf("the GGUF was copied into the store, not linked")
	}
	sum := sha256.Sum256([]byte("GGUF" + strings.Repeat("x", 1000)))
	if filepath.Base(m.Path) != "sha256-"+hex.EncodeToString(sum[:]) {
		t.Errorf("blob name %s is not its sha256", m.Path)
	}
	// Derived model inherits and overrides.
	m2, err := s.Create("derived:v1", &Modelfile{From: "mine", System: ptr("be verbose")}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.System != "be verbose" || m2.Params["temperature"] != 0.1 || m2.Path != m.Path {
		t.Fatalf("derived %+v", m2)
	}
	if err := s.Copy("mine", "other/copy:x"); err != nil {
		t.Fatal(err)
	}
	ms, err := s.List(false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if strings.Join(names, ",") != "derived:v1,mine:latest,other/copy:x" {
		t.Fatalf("list: %v", names)
	}
	if err := s.Delete("mine"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(m.Path); err != nil {
		t.Fatal("blob still used by other models was deleted")
	}
	s.Delete("derived:v1")
	s.Delete("other/copy:x")
	if _, err := os.Stat(m.Path); !os.IsNotExist(err) {
		t.Fatal("unreferenced blob not pruned")
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatal("deleting from the store removed the original file")
	}
	if err := s.Delete("nope"); err == nil {
		t.Fatal("deleting a missing model succeeded")
	}
	if _, err := s.Create("x", &Modelfile{From: "./missing.gguf"}, "", nil); err == nil {
		t.Fatal("create from a missing file succeeded")
	}
	if _, err := s.Create("x", &Modelfile{From: src}, "q9_z", nil); err == nil {
		t.Fatal("create with an unknown --quantize type succeeded")
	}
}

// TestCreateQuantize stores a quantized copy of a real model and leaves the
// source untouched.
func TestCreateQuantize(t *testing.T) {
	s := testStore(t)
	src := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	var steps []string
	m, err := s.Create("tiny:q4_k_m", &Modelfile{From: src}, "q4_k_m", func(st string) { steps = append(steps, st) })
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if ft, _ := f.Uint("general.file_type"); ft != 15 { // LLAMA_FTYPE_MOSTLY_Q4_K_M
		t.Fatalf("general.file_type = %d, want 15 (Q4_K_M)", ft)
	}
	quantized := 0
	for _, ti := range f.Tensors {
		if ti.Type != quant.F32 {
			quantized++
		}
	}
	if quantized == 0 {
		t.Fatal("no tensor was quantized")
	}
	orig, _ := os.Stat(src)
	if st, _ := os.Stat(m.Path); st.Size() >= orig.Size() {
		t.Fatalf("quantized blob %d bytes, source %d", st.Size(), orig.Size())
	}
	if !strings.Contains(strings.Join(steps, "\n"), "quantizing to Q4_K_M") {
		t.Fatalf("progress: %q", steps)
	}
	if ents, _ := filepath.Glob(filepath.Join(s.Dir, ".quantize-*")); len(ents) != 0 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func ptr(s string) *string { return &s }

func TestDiscoverOllamaHFLMStudio(t *testing.T) {
	root := t.TempDir()
	// Ollama store: manifest -> model + template + params + system.
	od := filepath.Join(root, "ollama")
	blob := func(data string) Layer {
		sum := sha256.Sum256([]byte(data))
		d := "sha256:" + hex.EncodeToString(sum[:])
		p, _ := blobPath(od, d)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o644)
		return Layer{Digest: d, Size: int64(len(data))}
	}
	ml := blob("GGUF fake weights")
	ml.MediaType = MediaModel
	tl := blob("{{ .Prompt }}")
	tl.MediaType = MediaTemplate
	pl := blob(`{"stop":["<|eot_id|>"],"temperature":0.6}`)
	pl.MediaType = MediaParams
	sl := blob("sys")
	sl.MediaType = MediaSystem
	mfData, _ := json.Marshal(Manifest{SchemaVersion: 2, MediaType: MediaManifest, Layers: []Layer{ml, tl, pl, sl}})
	mp := filepath.Join(od, "manifests", "registry.ollama.ai", "library", "llama3.2", "latest")
	os.MkdirAll(filepath.Dir(mp), 0o755)
	os.WriteFile(mp, mfData, 0o644)

	// HF cache: a GGUF repo and a safetensors/MLX repo.
	hub := filepath.Join(root, "hub")
	snap := filepath.Join(hub, "models--org--Tiny-GGUF", "snapshots", "abc")
	writeGGUF(t, filepath.Join(snap, "tiny-Q4_K_M.gguf"), "w")
	os.MkdirAll(filepath.Join(hub, "models--org--Tiny-GGUF", "refs"), 0o755)
	os.WriteFile(filepath.Join(hub, "models--org--Tiny-GGUF", "refs", "main"), []byte("abc"), 0o644)
	mlx := filepath.Join(hub, "models--mlx-community--Tiny-4bit", "snapshots", "def")
	os.MkdirAll(mlx, 0o755)
	os.WriteFile(filepath.Join(mlx, "config.json"), []byte(`{"quantization":{"bits":4}}`), 0o644)
	os.WriteFile(filepath.Join(mlx, "model.safetensors"), []byte("x"), 0o644)

	// LM Studio.
	lms := filepath.Join(root, "lms")
	writeGGUF(t, filepath.Join(lms, "pub", "Repo-GGUF", "Repo-Q8_0.gguf"), "w")

	s := &Store{Dir: filepath.Join(root, "ferry"), OllamaDir: od, HFHubDir: hub, LMStudioDir: []string{lms}}
	path, m, err := s.Resolve("llama3.2")
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != SourceOllama || path != mustBlob(od, ml.Digest) || m.Template != "{{ .Prompt }}" || m.System != "sys" || m.Params["temperature"] != 0.6 {
		t.Fatalf("ollama model: %+v", m)
	}
	all, err := s.List(true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, m := range all {
		got[m.Name] = string(m.Source) + "/" + m.Format
	}
	want := map[string]string{
		"llama3.2:latest":                      "ollama/gguf",
		"hf.co/org/Tiny-GGUF:Q4_K_M":           "huggingface/gguf",
		"hf.co/mlx-community/Tiny-4bit:latest": "huggingface/mlx",
		"lmstudio/pub/Repo-GGUF:Q8_0":          "lmstudio/gguf",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if ms, _ := s.List(false); len(ms) != 0 {
		t.Errorf("list without --all shows discovered models: %d", len(ms))
	}
	for _, name := range []string{"hf.co/org/Tiny-GGUF:Q4_K_M", "hf.co/mlx-community/Tiny-4bit", "lmstudio/pub/Repo-GGUF:Q8_0"} {
		if _, _, err := s.Resolve(name); err != nil {
			t.Errorf("resolve %s: %v", name, err)
		}
	}
	// Ollama models are not deleted by ferry, and say why.
	if err := s.Delete("llama3.2"); err == nil || !strings.Contains(err.Error(), "ollama") {
		t.Errorf("delete of an Ollama model: %v", err)
	}
	// Importing an Ollama model into ferry's store links its blob.
	if err := s.Copy("llama3.2", "mine"); err != nil {
		t.Fatal(err)
	}
	if _, m, err := s.Resolve("mine"); err != nil || m.Template != "{{ .Prompt }}" || m.Source != SourceFerry {
		t.Fatalf("imported: %+v %v", m, err)
	}
}

func mustBlob(dir, d string) string {
	p, _ := blobPath(dir, d)
	return p
}

func TestQuantFromFilename(t *testing.T) {
	for in, want := range map[string]string{
		"Llama-3.2-1B-Instruct-Q4_K_M.gguf": "Q4_K_M",
		"model.q8_0.gguf":                   "Q8_0",
		"x-IQ4_XS.gguf":                     "IQ4_XS",
		"x-f16.gguf":                        "F16",
		"plain.gguf":                        "",
	} {
		if got := QuantFromFilename(in); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestBlobReaderVerifiesDigest(t *testing.T) {
	s := testStore(t)
	data := "hello"
	sum := sha256.Sum256([]byte(data))
	good := "sha256:" + hex.EncodeToString(sum[:])
	if _, err := s.AddBlobReader(strings.NewReader("tampered"), good); err == nil {
		t.Fatal("digest mismatch accepted")
	}
	if s.HasBlob(good) {
		t.Fatal("a failed upload left a blob behind")
	}
	if _, err := s.AddBlobReader(strings.NewReader(data), good); err != nil || !s.HasBlob(good) {
		t.Fatal(err)
	}
	if _, err := s.BlobPath("sha256:../../etc/passwd"); err == nil {
		t.Fatal("path traversal in a digest accepted")
	}
}
