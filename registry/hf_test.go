package registry

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
)

func ggufRepo(f *fakeHF) map[string][]byte {
	files := map[string][]byte{
		"README.md":                         []byte("# tiny\n"),
		"tiny-Q4_0.gguf":                    weights(30_000),
		"tiny-Q4_K_M.gguf":                  weights(40_000),
		"tiny-Q8_0.gguf":                    weights(50_000),
		"mmproj-tiny-f16.gguf":              weights(10),
		"big/tiny-Q6_K-00001-of-00002.gguf": weights(20_000),
		"big/tiny-Q6_K-00002-of-00002.gguf": weights(25_000),
	}
	for p := range files {
		if strings.HasSuffix(p, ".gguf") {
			f.lfs[p] = true
		}
	}
	f.repos["org/tiny-GGUF"] = files
	return files
}

func TestHFGGUFByQuant(t *testing.T) {
	hf := newFakeHF(t)
	files := ggufRepo(hf)
	st := testStore(t)
	for _, c := range []struct{ ref, name, file string }{
		{"hf.co/org/tiny-GGUF", "hf.co/org/tiny-GGUF:latest", "tiny-Q4_K_M.gguf"},
		{"hf.co/org/tiny-GGUF:q8_0", "hf.co/org/tiny-GGUF:q8_0", "tiny-Q8_0.gguf"},
		{"huggingface.co/org/tiny-GGUF:Q4_0", "hf.co/org/tiny-GGUF:Q4_0", "tiny-Q4_0.gguf"},
	} {
		ps, fn := collect()
		res, err := Pull(context.Background(), c.ref, Options{Store: st, HFBase: hf.srv.URL, Progress: fn})
		if err != nil {
			t.Fatalf("%s: %v", c.ref, err)
		}
		if res.Name != c.name || res.Format != "gguf" {
			t.Errorf("%s: result %+v", c.ref, res)
		}
		m, err := st.Get(res.Name)
		if err != nil {
			t.Fatalf("%s: %v", c.ref, err)
		}
		if got, _ := os.ReadFile(m.Path); !bytes.Equal(got, files[c.file]) {
			t.Errorf("%s: pulled the wrong file (want %s)", c.ref, c.file)
		}
		if last := (*ps)[len(*ps)-1]; last.Status != "success" {
			t.Errorf("%s: last status %q", c.ref, last.Status)
		}
	}
	// No quant in the repo matches: the error lists what there is.
	_, err := Pull(context.Background(), "hf.co/org/tiny-GGUF:IQ2_XXS", Options{Store: st, HFBase: hf.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "Q4_K_M") || !strings.Contains(err.Error(), "IQ2_XXS") {
		t.Errorf("unknown quant: %v", err)
	}
}

func TestHFSplitGGUF(t *testing.T) {
	hf := newFakeHF(t)
	files := ggufRepo(hf)
	st := testStore(t)
	res, err := Pull(context.Background(), "hf.co/org/tiny-GGUF:Q6_K", Options{Store: st, HFBase: hf.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != 2 || !strings.HasSuffix(res.Path, "tiny-Q6_K-00001-of-00002.gguf") {
		t.Errorf("result %+v", res)
	}
	dir := filepath.Dir(res.Path)
	for _, p := range []string{"big/tiny-Q6_K-00001-of-00002.gguf", "big/tiny-Q6_K-00002-of-00002.gguf"} {
		if got, _ := os.ReadFile(filepath.Join(dir, filepath.Base(p))); !bytes.Equal(got, files[p]) {
			t.Errorf("%s differs", p)
		}
	}
}

func TestHFSafetensorsRepo(t *testing.T) {
	hf := newFakeHF(t)
	hf.cdnHost = strings.Replace(hf.srv.URL, "127.0.0.1", "localhost", 1)
	hf.token = "hf_secret"
	files := map[string][]byte{
		"README.md":                        []byte("card"),
		".gitattributes":                   []byte("*.safetensors filter=lfs"),
		"config.json":                      []byte(`{"architectures":["LlamaForCausalLM"],"quantization":{"group_size":64,"bits":4}}`),
		"tokenizer.json":                   []byte(`{"model":{}}`),
		"tokenizer_config.json":            []byte(`{}`),
		"generation_config.json":           []byte(`{}`),
		"chat_template.jinja":              []byte("{{ messages }}"),
		"model-00001-of-00002.safetensors": weights(60_000),
		"model-00002-of-00002.safetensors": weights(70_000),
		"model.safetensors.index.json":     []byte(`{"weight_map":{}}`),
		"onnx/model.onnx":                  weights(99),
	}
	hf.lfs["model-00001-of-00002.safetensors"] = true
	hf.lfs["model-00002-of-00002.safetensors"] = true
	hf.repos["mlx-community/tiny-4bit"] = files
	st := testStore(t)

	// Without a token: a clear message naming HF_TOKEN.
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	_, err := Pull(context.Background(), "hf.co/mlx-community/tiny-4bit", Options{Store: st, HFBase: hf.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("without a token: %v", err)
	}

	t.Setenv("HF_TOKEN", "hf_secret")
	res, err := Pull(context.Background(), "hf.co/mlx-community/tiny-4bit", Options{Store: st, HFBase: hf.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "hf.co/mlx-community/tiny-4bit" || res.Format != "mlx" || res.Files != 8 {
		t.Errorf("result %+v", res)
	}
	wantDir := filepath.Join(st.HFHubDir, "models--mlx-community--tiny-4bit", "snapshots", strings.Repeat("ab", 20))
	if res.Path != wantDir {
		t.Errorf("path %s, want %s", res.Path, wantDir)
	}
	for p, b := range files {
		got, err := os.ReadFile(filepath.Join(wantDir, filepath.FromSlash(p)))
		wanted := hfFolderFile(p)
		if wanted && !bytes.Equal(got, b) {
			t.Errorf("%s: differs (%v)", p, err)
		}
		if !wanted && err == nil {
			t.Errorf("%s downloaded but not needed", p)
		}
	}
	if ref, _ := os.ReadFile(filepath.Join(st.HFHubDir, "models--mlx-community--tiny-4bit", "refs", "main")); string(ref) != strings.Repeat("ab", 20) {
		t.Errorf("refs/main = %q", ref)
	}
	m, err := st.Get("hf.co/mlx-community/tiny-4bit")
	if err != nil || m.Path != wantDir {
		t.Fatalf("store: %v %+v", err, m)
	}
	// The token went to the Hub but not to the CDN on another host.
	for _, a := range hf.authSeen {
		if a != "" {
			t.Errorf("CDN saw Authorization %q", a)
		}
	}
	if len(hf.authSeen) != 2 {
		t.Errorf("CDN requests: %d", len(hf.authSeen))
	}
}

func TestHFErrors(t *testing.T) {
	hf := newFakeHF(t)
	st := testStore(t)
	_, err := Pull(context.Background(), "hf.co/org/missing", Options{Store: st, HFBase: hf.srv.URL, HFToken: "x"})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing repo: %v", err)
	}
	hf.repos["org/empty"] = map[string][]byte{"README.md": []byte("x")}
	_, err = Pull(context.Background(), "hf.co/org/empty", Options{Store: st, HFBase: hf.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "neither GGUF nor safetensors") {
		t.Errorf("empty repo: %v", err)
	}
	hf.repos["org/st"] = map[string][]byte{"config.json": []byte("{}"), "model.safetensors": []byte("x")}
	_, err = Pull(context.Background(), "hf.co/org/st:Q4_K_M", Options{Store: st, HFBase: hf.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "no GGUF") {
		t.Errorf("quant on a safetensors repo: %v", err)
	}
	// A CDN that serves other bytes than the LFS sha256 says.
	hf.repos["org/bad-GGUF"] = map[string][]byte{"m-Q4_0.gguf": weights(5000)}
	hf.lfs["m-Q4_0.gguf"] = true
	hf.corrupt = true
	_, err = Pull(context.Background(), "hf.co/org/bad-GGUF", Options{Store: st, HFBase: hf.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Errorf("corrupt download: %v", err)
	}
	// A file list naming a path outside the repo.
	hf.corrupt = false
	hf.repos["org/evil"] = map[string][]byte{"../../x.gguf": []byte("x")}
	_, err = Pull(context.Background(), "hf.co/org/evil", Options{Store: st, HFBase: hf.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "unsafe path") {
		t.Errorf("unsafe path: %v", err)
	}
}

func TestHFEtagOnly(t *testing.T) {
	// Without LFS data in the listing the sha256 comes from X-Linked-Etag.
	hf := newFakeHF(t)
	hf.noEtagLFS = true
	w := weights(9000)
	hf.repos["org/e-GGUF"] = map[string][]byte{"e-Q8_0.gguf": w}
	hf.lfs["e-Q8_0.gguf"] = true
	st := testStore(t)
	res, err := Pull(context.Background(), "hf.co/org/e-GGUF", Options{Store: st, HFBase: hf.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if bp, _ := st.BlobPath("sha256:" + sha(w)); res.Path != bp {
		t.Errorf("path %s, want %s", res.Path, bp)
	}
	// A mirror without the tree endpoint: the sibling list is used.
	hf.noTree = true
	st2 := testStore(t)
	if _, err := Pull(context.Background(), "hf.co/org/e-GGUF:Q8_0", Options{Store: st2, HFBase: hf.srv.URL}); err != nil {
		t.Fatalf("without a tree endpoint: %v", err)
	}
	hf.noTree = false
	// The same with a corrupted body is caught by the etag.
	hf.repos["org/f-GGUF"] = map[string][]byte{"f-Q8_0.gguf": w}
	hf.lfs["f-Q8_0.gguf"] = true
	hf.corrupt = true
	if _, err := Pull(context.Background(), "hf.co/org/f-GGUF", Options{Store: st, HFBase: hf.srv.URL}); err == nil || !strings.Contains(err.Error(), "X-Linked-Etag") {
		t.Errorf("corrupt download: %v", err)
	}
}

func TestHFStoriesRuns(t *testing.T) {
	data, err := os.ReadFile(testdata.Path(t, "models", "stories260K", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	hf := newFakeHF(t)
	hf.repos["karpathy/stories260K-GGUF"] = map[string][]byte{"stories260K-F32.gguf": data, "README.md": []byte("x")}
	hf.lfs["stories260K-F32.gguf"] = true
	st := testStore(t)
	res, err := Pull(context.Background(), "hf.co/karpathy/stories260K-GGUF", Options{Store: st, HFBase: hf.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	checkRuns(t, st, res.Name)
}
