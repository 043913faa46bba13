package registry

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/store"
)

func testStore(t *testing.T) *store.Store {
	d := t.TempDir()
	return &store.Store{Dir: filepath.Join(d, "models"), HFHubDir: filepath.Join(d, "hub")}
}

func weights(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestParseRef(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Ref
		name string
	}{
		{"llama3.2", Ref{"ollama", "registry.ollama.ai", "library", "llama3.2", "latest"}, "llama3.2:latest"},
		{"llama3.2:1b", Ref{"ollama", "registry.ollama.ai", "library", "llama3.2", "1b"}, "llama3.2:1b"},
		{"library/llama3.2:1b", Ref{"ollama", "registry.ollama.ai", "library", "llama3.2", "1b"}, "llama3.2:1b"},
		{"ollama.com/library/llama3.2:1b", Ref{"ollama", "ollama.com", "library", "llama3.2", "1b"}, "llama3.2:1b"},
		{"registry.ollama.ai/library/llama3.2:1b", Ref{"ollama", "registry.ollama.ai", "library", "llama3.2", "1b"}, "llama3.2:1b"},
		{"https://ollama.com/library/qwen3", Ref{"ollama", "ollama.com", "library", "qwen3", "latest"}, "qwen3:latest"},
		{"jmorgan/m:q4", Ref{"ollama", "registry.ollama.ai", "jmorgan", "m", "q4"}, "jmorgan/m:q4"},
		{"example.com/ns/m:1", Ref{"ollama", "example.com", "ns", "m", "1"}, "example.com/ns/m:1"},
		{"hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", Ref{"hf", "hf.co", "bartowski", "Llama-3.2-1B-Instruct-GGUF", "Q4_K_M"}, ""},
		{"huggingface.co/mlx-community/Qwen3-0.6B-4bit", Ref{"hf", "huggingface.co", "mlx-community", "Qwen3-0.6B-4bit", ""}, ""},
		{"https://huggingface.co/org/repo/", Ref{"hf", "huggingface.co", "org", "repo", ""}, ""},
		{"hf.co/org/repo:latest", Ref{"hf", "hf.co", "org", "repo", ""}, ""},
	} {
		got, err := ParseRef(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.in, got, c.want)
		}
		if c.name != "" && got.ollamaName() != c.name {
			t.Errorf("%s: store name %q, want %q", c.in, got.ollamaName(), c.name)
		}
	}
	for _, bad := range []string{"", "a/b/c/d", "hf.co/org", "hf.co/a/b/c", "m:a b", "../x", "a/../b", "m:", "hf.co/org/re po"} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
}

func collect() (*[]Progress, func(Progress)) {
	var mu sync.Mutex
	var ps []Progress
	return &ps, func(p Progress) { mu.Lock(); ps = append(ps, p); mu.Unlock() }
}

func TestOllamaPull(t *testing.T) {
	reg := newFakeOllama(t)
	w := weights(300_000)
	digest := reg.addModel("library", "tiny", "1b", w)
	st := testStore(t)
	ps, fn := collect()
	res, err := Pull(context.Background(), "ollama.com/library/tiny:1b", Options{Store: st, OllamaBase: reg.srv.URL, Progress: fn})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "tiny:1b" || res.Files != 5 {
		t.Errorf("result %+v", res)
	}
	m, err := st.Get("tiny:1b")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(m.Path)
	if err != nil || !bytes.Equal(got, w) {
		t.Fatalf("model blob differs (err %v)", err)
	}
	if m.Path != res.Path || m.Template != "{{ .Prompt }}" || m.License != "MIT" || m.Params["temperature"] != 0.5 {
		t.Errorf("store model %+v", m)
	}
	if reg.accepts[0] != store.MediaManifest {
		t.Errorf("Accept %q", reg.accepts[0])
	}
	// The progress stream is Ollama's: manifest, per-layer byte counts, then
	// verification, manifest write and success.
	var statuses []string
	var last Progress
	for _, p := range *ps {
		if len(statuses) == 0 || statuses[len(statuses)-1] != p.Status {
			statuses = append(statuses, p.Status)
		}
		if p.Digest == digest {
			if p.Completed < last.Completed && last.Digest == digest {
				t.Errorf("completed went backwards: %d after %d", p.Completed, last.Completed)
			}
			last = p
		}
	}
	if last.Completed != int64(len(w)) || last.Total != int64(len(w)) || last.Status != "pulling "+digest[7:19] {
		t.Errorf("last model progress %+v", last)
	}
	if statuses[0] != "pulling manifest" || !slicesHave(statuses, "verifying sha256 digest") || statuses[len(statuses)-1] != "success" {
		t.Errorf("statuses %v", statuses)
	}
	// A second pull finds every blob present and downloads nothing.
	before := reg.gets
	if _, err := Pull(context.Background(), "tiny:1b", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if reg.gets != before {
		t.Errorf("second pull fetched %d blobs", reg.gets-before)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Join(st.Dir, "blobs"))
	for _, e := range ents {
		if strings.Contains(e.Name(), ".") {
			t.Errorf("left over: %s", e.Name())
		}
	}
}

func slicesHave(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestOllamaResumeAfterDrop(t *testing.T) {
	reg := newFakeOllama(t)
	w := weights(200_000)
	digest := reg.addModel("library", "tiny", "latest", w)
	reg.dropLeft[digest] = 2 // the first two responses stop halfway
	st := testStore(t)
	if _, err := Pull(context.Background(), "tiny", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Get("tiny")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(m.Path); !bytes.Equal(got, w) {
		t.Fatal("resumed blob differs")
	}
	// Responses: full, then from 100000, then from 150000.
	var rs []string
	for _, r := range reg.ranges {
		if r != "" {
			rs = append(rs, r)
		}
	}
	if len(rs) != 2 || rs[0] != "bytes=100000-" || rs[1] != "bytes=150000-" {
		t.Errorf("range requests %q", rs)
	}
}

func TestOllamaResumeAcrossRuns(t *testing.T) {
	for _, noRange := range []bool{false, true} {
		reg := newFakeOllama(t)
		reg.noRange = noRange
		w := weights(100_000)
		digest := reg.addModel("library", "tiny", "latest", w)
		st := testStore(t)
		bp, _ := st.BlobPath(digest)
		os.MkdirAll(filepath.Dir(bp), 0o755)
		// An earlier pull got 40000 bytes before it was killed.
		if err := os.WriteFile(bp+".partial", w[:40000], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Pull(context.Background(), "tiny", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(bp); !bytes.Equal(got, w) {
			t.Fatalf("noRange=%v: blob differs", noRange)
		}
		if !slicesHave(reg.ranges, "bytes=40000-") {
			t.Errorf("noRange=%v: no resume request in %q", noRange, reg.ranges)
		}
		if _, err := os.Stat(bp + ".partial"); !os.IsNotExist(err) {
			t.Errorf("partial file left: %v", err)
		}
	}
}

func TestOllamaCorruptPartial(t *testing.T) {
	// A partial file whose bytes are wrong fails verification once and is
	// deleted, so the next pull starts clean and succeeds.
	reg := newFakeOllama(t)
	w := weights(50_000)
	digest := reg.addModel("library", "tiny", "latest", w)
	st := testStore(t)
	bp, _ := st.BlobPath(digest)
	os.MkdirAll(filepath.Dir(bp), 0o755)
	os.WriteFile(bp+".partial", bytes.Repeat([]byte{9}, 20000), 0o644)
	_, err := Pull(context.Background(), "tiny", Options{Store: st, OllamaBase: reg.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("expected a mismatch, got %v", err)
	}
	if _, err := Pull(context.Background(), "tiny", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
}

func TestOllamaWrongDigest(t *testing.T) {
	reg := newFakeOllama(t)
	w := weights(10_000)
	digest := reg.addModel("library", "bad", "latest", w)
	evil := append([]byte(nil), w...)
	evil[5000] ^= 1
	reg.data[digest] = evil
	st := testStore(t)
	_, err := Pull(context.Background(), "bad", Options{Store: st, OllamaBase: reg.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), digest[7:]) {
		t.Fatalf("expected a sha256 mismatch naming the digest, got %v", err)
	}
	bp, _ := st.BlobPath(digest)
	for _, p := range []string{bp, bp + ".partial", bp + ".lock"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed pull", filepath.Base(p))
		}
	}
	if _, err := st.Get("bad"); err == nil {
		t.Error("a failed pull installed a manifest")
	}
}

func TestOllamaErrors(t *testing.T) {
	reg := newFakeOllama(t)
	st := testStore(t)
	_, err := Pull(context.Background(), "nosuch:7b", Options{Store: st, OllamaBase: reg.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), "nosuch:7b") {
		t.Errorf("missing model: %v", err)
	}
	// A manifest whose blob the registry lacks.
	reg.addModel("library", "half", "latest", weights(100))
	var mf store.Manifest
	_ = mf
	for d := range reg.data {
		if len(reg.data[d]) == 100 {
			delete(reg.data, d)
		}
	}
	_, err = Pull(context.Background(), "half", Options{Store: st, OllamaBase: reg.srv.URL})
	if err == nil || !strings.Contains(err.Error(), "Not Found") {
		t.Errorf("missing blob: %v", err)
	}
	// A manifest that is not JSON, one with a bad digest, one without a model.
	reg.manifests["library/junk/latest"] = []byte("<html>")
	reg.manifests["library/baddigest/latest"] = []byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:../../etc","size":1}]}`)
	reg.manifests["library/nomodel/latest"] = []byte(`{"schemaVersion":2,"layers":[]}`)
	for name, want := range map[string]string{"junk": "invalid JSON", "baddigest": "invalid digest", "nomodel": "no layers"} {
		_, err := Pull(context.Background(), name, Options{Store: st, OllamaBase: reg.srv.URL})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
	// Nothing listens here: a clear network error, no hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Pull(ctx, "tiny", Options{Store: st, OllamaBase: "http://127.0.0.1:1"}); err == nil {
		t.Error("pull from a closed port succeeded")
	}
}

func TestConcurrentPulls(t *testing.T) {
	reg := newFakeOllama(t)
	w := weights(400_000)
	reg.addModel("library", "tiny", "latest", w)
	reg.delay = 50 * time.Microsecond
	st := testStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Separate clients share only the file system, as two
			// processes would (plus the in-process lock).
			_, errs[i] = Pull(context.Background(), "tiny", Options{Store: st, OllamaBase: reg.srv.URL})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	m, _ := st.Get("tiny")
	if got, _ := os.ReadFile(m.Path); !bytes.Equal(got, w) {
		t.Fatal("blob differs after concurrent pulls")
	}
}

func TestLockWaitsForOtherProcess(t *testing.T) {
	// A lock file held by another (live) process: the pull waits until the
	// blob appears and then uses it without downloading.
	reg := newFakeOllama(t)
	w := weights(1000)
	digest := reg.addModel("library", "tiny", "latest", w)
	st := testStore(t)
	bp, _ := st.BlobPath(digest)
	os.MkdirAll(filepath.Dir(bp), 0o755)
	os.WriteFile(bp+".lock", []byte("1\n"), 0o644)
	go func() {
		time.Sleep(300 * time.Millisecond)
		os.WriteFile(bp, w, 0o644)
		os.Remove(bp + ".lock")
	}()
	if _, err := Pull(context.Background(), "tiny", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
	for _, r := range reg.ranges {
		_ = r
	}
	// Stale locks are taken over.
	old := lockStale
	lockStale = 50 * time.Millisecond
	defer func() { lockStale = old }()
	st2 := testStore(t)
	bp2, _ := st2.BlobPath(digest)
	os.MkdirAll(filepath.Dir(bp2), 0o755)
	os.WriteFile(bp2+".lock", []byte("1\n"), 0o644)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(bp2+".lock", past, past)
	if _, err := Pull(context.Background(), "tiny", Options{Store: st2, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(bp2); !bytes.Equal(got, w) {
		t.Fatal("blob differs")
	}
}

func TestCancel(t *testing.T) {
	reg := newFakeOllama(t)
	w := weights(2_000_000)
	digest := reg.addModel("library", "slow", "latest", w)
	reg.delay = time.Millisecond
	st := testStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	_, err := Pull(ctx, "slow", Options{Store: st, OllamaBase: reg.srv.URL, Progress: func(p Progress) {
		if p.Digest == digest && p.Completed > 100_000 {
			once.Do(cancel)
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("expected cancellation, got %v", err)
	}
	bp, _ := st.BlobPath(digest)
	if n := partialSize(bp + ".partial"); n < 100_000 || n >= int64(len(w)) {
		t.Errorf("partial file has %d bytes", n)
	}
	if _, err := os.Stat(bp + ".lock"); !os.IsNotExist(err) {
		t.Error("lock left after cancel")
	}
	// Resuming finishes the job.
	reg.delay = 0
	if _, err := Pull(context.Background(), "slow", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(bp); !bytes.Equal(got, w) {
		t.Fatal("blob differs after resume")
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		in             string
		start, end, sz int64
		ok             bool
	}{
		{"bytes 10-19/20", 10, 19, 20, true},
		{"bytes 0-0/*", 0, 0, -1, true},
		{"bytes 10-9/20", 0, 0, 0, false},
		{"bytes 10-19/15", 0, 0, 0, false},
		{"items 1-2/3", 0, 0, 0, false},
		{"bytes x-1/2", 0, 0, 0, false},
	} {
		s, e, z, ok := parseContentRange(c.in)
		if ok != c.ok || ok && (s != c.start || e != c.end || z != c.sz) {
			t.Errorf("%q: %d %d %d %v", c.in, s, e, z, ok)
		}
	}
}

func TestStoriesPulledRuns(t *testing.T) {
	p := testdata.Path(t, "models", "stories260K", "stories260K.gguf")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	reg := newFakeOllama(t)
	reg.addModel("library", "stories", "260k", data)
	st := testStore(t)
	if _, err := Pull(context.Background(), "stories:260k", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
	checkRuns(t, st, "stories:260k")
}

func TestStalledServerResumes(t *testing.T) {
	old := stallTimeout
	stallTimeout = 200 * time.Millisecond
	defer func() { stallTimeout = old }()
	reg := newFakeOllama(t)
	w := weights(80_000)
	reg.addModel("library", "tiny", "latest", w)
	reg.stalls = 1
	st := testStore(t)
	start := time.Now()
	if _, err := Pull(context.Background(), "tiny", Options{Store: st, OllamaBase: reg.srv.URL}); err != nil {
		t.Fatal(err)
	}
	if !slicesHave(reg.ranges, "bytes=40000-") {
		t.Errorf("no resume after the stall: %q", reg.ranges)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}
