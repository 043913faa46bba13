package registry

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryhq/ferry/store"
)

// fakeBlobs serves content under /cdn/<key> with Range support, optionally
// dropping the connection midway through the first responses, and records
// the Range headers it saw.
type fakeBlobs struct {
	mu       sync.Mutex
	data     map[string][]byte // key -> bytes
	dropLeft map[string]int    // key -> how many more responses to cut short
	noRange  bool              // ignore Range (answer 200 with everything)
	ranges   []string          // Range headers seen
	gets     int
	delay    time.Duration // per 4 KiB chunk, to test cancellation
	corrupt  bool          // flip a byte of every body
	stalls   int           // responses that send half and then go silent
}

func newFakeBlobs() *fakeBlobs {
	return &fakeBlobs{data: map[string][]byte{}, dropLeft: map[string]int{}}
}

func (f *fakeBlobs) serve(w http.ResponseWriter, r *http.Request, key string) {
	f.mu.Lock()
	data, ok := f.data[key]
	drop := f.dropLeft[key] > 0
	if drop {
		f.dropLeft[key]--
	}
	f.gets++
	f.ranges = append(f.ranges, r.Header.Get("Range"))
	noRange, delay := f.noRange, f.delay
	stall := f.stalls > 0 && !drop
	if stall {
		f.stalls--
	}
	if f.corrupt && ok {
		data = append([]byte(nil), data...)
		data[len(data)/2] ^= 0x55
	}
	f.mu.Unlock()
	if !ok {
		http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`, http.StatusNotFound)
		return
	}
	start := int64(0)
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && !noRange {
		v, ok := strings.CutPrefix(rg, "bytes=")
		a, _, _ := strings.Cut(v, "-")
		n, err := strconv.ParseInt(a, 10, 64)
		if !ok || err != nil || n >= int64(len(data)) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(data)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start = n
		status = http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(data)-1, len(data)))
	}
	body := data[start:]
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(status)
	if stall {
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	if drop {
		// Send a part and return: with Content-Length unmet the server
		// closes the connection, as a dropped download looks to a client.
		w.Write(body[:len(body)/2])
		return
	}
	for off := 0; off < len(body); off += 4096 {
		if delay > 0 {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(delay):
			}
		}
		end := min(off+4096, len(body))
		if _, err := w.Write(body[off:end]); err != nil {
			return
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func gitOID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// fakeOllama speaks the Ollama registry protocol: manifests at
// /v2/NS/NAME/manifests/TAG, blobs at /v2/NS/NAME/blobs/sha256:HEX that
// redirect (307, as registry.ollama.ai does) to a CDN path.
type fakeOllama struct {
	*fakeBlobs
	srv       *httptest.Server
	manifests map[string][]byte // "ns/name/tag" -> JSON
	accepts   []string
}

func newFakeOllama(t *testing.T) *fakeOllama {
	f := &fakeOllama{fakeBlobs: newFakeBlobs(), manifests: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/{ns}/{name}/manifests/{tag}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.accepts = append(f.accepts, r.Header.Get("Accept"))
		b, ok := f.manifests[r.PathValue("ns")+"/"+r.PathValue("name")+"/"+r.PathValue("tag")]
		f.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
			return
		}
		w.Header().Set("Content-Type", store.MediaManifest)
		w.Write(b)
	})
	mux.HandleFunc("GET /v2/{ns}/{name}/blobs/{digest}", func(w http.ResponseWriter, r *http.Request) {
		d := r.PathValue("digest")
		f.mu.Lock()
		_, ok := f.data[d]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`)
			return
		}
		http.Redirect(w, r, "/cdn/"+d+"?sig=abc", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("GET /cdn/{key}", func(w http.ResponseWriter, r *http.Request) {
		f.serve(w, r, r.PathValue("key"))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// addModel publishes ns/name:tag with a model layer and small layers, as
// ollama.com manifests look. It returns the model layer's digest.
func (f *fakeOllama) addModel(ns, name, tag string, weights []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	layer := func(media string, b []byte) store.Layer {
		d := "sha256:" + sha(b)
		f.data[d] = b
		return store.Layer{MediaType: media, Digest: d, Size: int64(len(b))}
	}
	model := layer(store.MediaModel, weights)
	mf := store.Manifest{
		SchemaVersion: 2,
		MediaType:     store.MediaManifest,
		Config:        layer(store.MediaConfig, []byte(`{"model_format":"gguf","model_family":"llama","file_type":"F32"}`)),
		Layers: []store.Layer{
			model,
			layer(store.MediaTemplate, []byte("{{ .Prompt }}")),
			layer(store.MediaParams, []byte(`{"stop":["<|eot|>"],"temperature":0.5}`)),
			layer(store.MediaLicense, []byte("MIT")),
		},
	}
	b, _ := json.Marshal(mf)
	f.manifests[ns+"/"+name+"/"+tag] = b
	return model.Digest
}

// fakeHF speaks the parts of the Hugging Face Hub API a pull uses:
// /api/models/ORG/REPO, /api/models/ORG/REPO/tree/REV (paginated with a
// Link header), and /ORG/REPO/resolve/REV/FILE, which redirects LFS files
// to a CDN (optionally on another host name) with X-Linked-Etag and serves
// small files directly.
type fakeHF struct {
	*fakeBlobs
	srv       *httptest.Server
	cdnHost   string                       // base URL of the CDN; the server itself when ""
	repos     map[string]map[string][]byte // repo -> path -> content
	lfs       map[string]bool              // paths stored in LFS
	token     string                       // required bearer token, if set
	pageSize  int
	authSeen  []string // Authorization headers on CDN requests
	noEtagLFS bool     // empty tree: names from /api/models, sha256 from X-Linked-Etag only
	noTree    bool     // the tree endpoint answers 404 (older mirrors)
}

func newFakeHF(t *testing.T) *fakeHF {
	f := &fakeHF{fakeBlobs: newFakeBlobs(), repos: map[string]map[string][]byte{}, lfs: map[string]bool{}, pageSize: 2}
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if f.token != "" && r.Header.Get("Authorization") != "Bearer "+f.token {
			w.Header().Set("X-Error-Code", "GatedRepo")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"Access to model is restricted. You must have access to it and be authenticated to access it. Please log in."}`)
			return false
		}
		return true
	}
	repo := func(w http.ResponseWriter, r *http.Request) (string, map[string][]byte, bool) {
		name := r.PathValue("org") + "/" + r.PathValue("repo")
		files, ok := f.repos[name]
		if !ok {
			w.Header().Set("X-Error-Code", "RepoNotFound")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"Repository not found"}`)
		}
		return name, files, ok
	}
	mux.HandleFunc("GET /api/models/{org}/{repo}", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		name, files, ok := repo(w, r)
		if !ok {
			return
		}
		type sib struct {
			RFilename string `json:"rfilename"`
		}
		var sibs []sib
		for _, p := range sortedKeys(files) {
			sibs = append(sibs, sib{p})
		}
		json.NewEncoder(w).Encode(map[string]any{"_id": "x", "id": name, "modelId": name, "sha": strings.Repeat("ab", 20), "private": false, "siblings": sibs})
	})
	mux.HandleFunc("GET /api/models/{org}/{repo}/tree/{rev}", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		_, files, ok := repo(w, r)
		if !ok {
			return
		}
		var entries []map[string]any
		for _, p := range sortedKeys(files) {
			b := files[p]
			e := map[string]any{"type": "file", "path": p, "size": len(b), "oid": gitOID(b)}
			if f.lfs[p] {
				e["oid"] = strings.Repeat("1", 40) // the pointer file's id
				e["lfs"] = map[string]any{"oid": sha(b), "size": len(b), "pointerSize": 134}
			}
			entries = append(entries, e)
		}
		if f.noTree {
			http.NotFound(w, r)
			return
		}
		if f.noEtagLFS {
			// A mirror without tree data: only /api/models' siblings.
			entries = entries[:0]
			fmt.Fprint(w, "[]")
			return
		}
		// Paginate with a cursor the way the Hub does.
		start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		end := min(start+f.pageSize, len(entries))
		if end < len(entries) {
			w.Header().Set("Link", fmt.Sprintf(`<%s%s?recursive=true&cursor=%d>; rel="next"`, f.srv.URL, r.URL.Path, end))
		}
		json.NewEncoder(w).Encode(entries[start:end])
	})
	// ORG/REPO/resolve/REV/FILE, routed by hand: a ServeMux pattern for it
	// would overlap the /api/ ones.
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 5)
		if len(parts) != 5 || parts[2] != "resolve" {
			http.NotFound(w, r)
			return
		}
		r.SetPathValue("org", parts[0])
		r.SetPathValue("repo", parts[1])
		r.SetPathValue("file", parts[4])
		if !auth(w, r) {
			return
		}
		name, files, ok := repo(w, r)
		if !ok {
			return
		}
		p := r.PathValue("file")
		b, ok := files[p]
		if !ok {
			w.Header().Set("X-Error-Code", "EntryNotFound")
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Header().Set("X-Repo-Commit", strings.Repeat("ab", 20))
		key := strings.ReplaceAll(name+"/"+p, "/", "~")
		f.mu.Lock()
		f.data[key] = b
		f.mu.Unlock()
		if f.lfs[p] {
			w.Header().Set("X-Linked-Etag", `"`+sha(b)+`"`)
			w.Header().Set("X-Linked-Size", strconv.Itoa(len(b)))
			base := f.cdnHost
			if base == "" {
				base = f.srv.URL
			}
			http.Redirect(w, r, base+"/cdn/"+key, http.StatusFound)
			return
		}
		w.Header().Set("ETag", `"`+gitOID(b)+`"`)
		f.serve(w, r, key)
	})
	mux.HandleFunc("GET /cdn/{key}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.authSeen = append(f.authSeen, r.Header.Get("Authorization"))
		f.mu.Unlock()
		f.serve(w, r, r.PathValue("key"))
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}
