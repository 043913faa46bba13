package server

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/ferryhq/ferry/api"
	"github.com/ferryhq/ferry/gguf"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/quant"
	"github.com/ferryhq/ferry/registry"
	"github.com/ferryhq/ferry/store"
)

// Details summarises a model from its header (family, parameter count,
// the type holding most weights): GGUF files directly, folders (HF, MLX)
// through their loader.
func Details(m *store.Model) api.ModelDetails {
	d := api.ModelDetails{Format: m.Format}
	var arch string
	var params uint64
	counts := map[quant.Type]uint64{}
	if m.Format == "gguf" {
		f, err := gguf.Open(m.Path)
		if err != nil {
			return d
		}
		defer f.Close()
		arch = f.Architecture()
		for i := range f.Tensors {
			n := f.Tensors[i].Elements()
			params += n
			counts[f.Tensors[i].Type] += n
		}
	} else {
		mm, err := model.Open(m.Path)
		if err != nil {
			return d
		}
		defer mm.Close()
		arch = mm.Arch()
		for _, t := range mm.Tensors {
			n := t.Elements()
			params += n
			counts[t.Type] += n
		}
	}
	d.Family = arch
	if arch != "" {
		d.Families = []string{arch}
	}
	d.ParameterSize = paramSize(params)
	var best quant.Type
	var bestN uint64
	for t, n := range counts {
		if n > bestN || n == bestN && t < best {
			best, bestN = t, n
		}
	}
	if bestN > 0 {
		d.QuantizationLevel = strings.ToUpper(best.String())
	}
	return d
}

func paramSize(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprintf("%d", n)
}

func bareDigest(d string) string { return strings.TrimPrefix(d, "sha256:") }

func (s *Server) handleTags(w http.ResponseWriter, r *http.Request) {
	ms, err := s.cfg.Store.List(true)
	if err != nil {
		ollamaError(w, err)
		return
	}
	resp := api.ListResponse{Models: []api.ListModelResponse{}}
	for _, m := range ms {
		resp.Models = append(resp.Models, api.ListModelResponse{Name: m.Name, Model: m.Name, ModifiedAt: m.ModifiedAt, Size: m.Size, Digest: bareDigest(m.Digest), Details: Details(m)})
	}
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// ShowInfo is what `ferry show` and /api/show print about a model.
func ShowInfo(m *store.Model, verbose bool) api.ShowResponse {
	resp := api.ShowResponse{
		License: m.License, Modelfile: m.Modelfile(), Parameters: strings.TrimSuffix(m.ParamsText(), "\n"),
		Template: m.Template, System: m.System, Details: Details(m), ModelInfo: map[string]any{}, ModifiedAt: m.ModifiedAt,
	}
	for _, msg := range m.Messages {
		resp.Messages = append(resp.Messages, api.Message{Role: msg.Role, Content: msg.Content})
	}
	resp.Capabilities = []string{"completion"}
	if m.Format == "gguf" {
		if f, err := gguf.Open(m.Path); err == nil {
			for _, kv := range f.KV {
				if a, ok := kv.Value.(gguf.Array); ok {
					if verbose {
						resp.ModelInfo[kv.Key] = a.Values
					} else {
						resp.ModelInfo[kv.Key] = nil
					}
					continue
				}
				if kv.Key == "tokenizer.chat_template" {
					if resp.Template == "" {
						resp.Template = kv.Value.(string)
					}
					if !verbose {
						continue
					}
				}
				resp.ModelInfo[kv.Key] = kv.Value
			}
			var params uint64
			for i := range f.Tensors {
				t := &f.Tensors[i]
				params += t.Elements()
				if verbose {
					resp.Tensors = append(resp.Tensors, api.TensorInfo{Name: t.Name, Type: strings.ToUpper(t.Type.String()), Shape: t.Shape})
				}
			}
			resp.ModelInfo["general.parameter_count"] = params
			if hasFIM(f) {
				resp.Capabilities = append(resp.Capabilities, "insert")
			}
			f.Close()
		}
	}
	tl := resp.Template
	if strings.Contains(tl, "tools") || strings.Contains(tl, "<tool_call>") || strings.Contains(tl, "[TOOL_CALLS]") {
		resp.Capabilities = append(resp.Capabilities, "tools")
	}
	return resp
}

func (s *Server) handleShow(w http.ResponseWriter, r *http.Request) {
	var req api.ShowRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	m, err := s.resolve(req.Model)
	if err != nil {
		ollamaError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ShowInfo(m, req.Verbose))
}

func (s *Server) handlePs(w http.ResponseWriter, r *http.Request) {
	resp := api.ProcessResponse{Models: []api.ProcessModelResponse{}}
	for _, rn := range s.models.snapshot() {
		exp := rn.expires
		if rn.refs > 0 || exp.IsZero() {
			exp = time.Now().Add(s.cfg.KeepAlive)
		}
		resp.Models = append(resp.Models, api.ProcessModelResponse{
			Name: rn.name, Model: rn.name, Size: rn.size, Digest: bareDigest(rn.model.Digest),
			Details: Details(rn.model), ExpiresAt: exp, ContextLength: rn.numCtx,
		})
	}
	sort.Slice(resp.Models, func(i, j int) bool { return resp.Models[i].Name < resp.Models[j].Name })
	writeJSON(w, http.StatusOK, resp)
}

func storeErr(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return &httpError{status: http.StatusNotFound, msg: err.Error()}
	}
	var he *httpError
	if errors.As(err, &he) {
		return err
	}
	return errf(http.StatusBadRequest, "%v", err)
}

func (s *Server) handleCopy(w http.ResponseWriter, r *http.Request) {
	var req api.CopyRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if req.Source == "" || req.Destination == "" {
		ollamaError(w, errf(http.StatusBadRequest, "source and destination are required"))
		return
	}
	if err := s.cfg.Store.Copy(req.Source, req.Destination); err != nil {
		ollamaError(w, storeErr(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	var req api.DeleteRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	if req.Model == "" {
		ollamaError(w, errf(http.StatusBadRequest, "model is required"))
		return
	}
	if m, err := s.cfg.Store.Get(req.Model); err == nil {
		s.models.Unload(m.Name)
	}
	if err := s.cfg.Store.Delete(req.Model); err != nil {
		ollamaError(w, storeErr(err))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// createModelfile turns an /api/create request into a Modelfile.
func (s *Server) createModelfile(req *api.CreateRequest) (*store.Modelfile, error) {
	if req.Modelfile != "" {
		mf, err := store.ParseModelfile(req.Modelfile)
		if err != nil {
			return nil, errf(http.StatusBadRequest, "%v", err)
		}
		if req.Path != "" {
			mf.Dir = req.Path
		}
		return mf, nil
	}
	mf := &store.Modelfile{From: req.From, Params: map[string]any{}}
	for name, digest := range req.Files {
		if !strings.HasSuffix(strings.ToLower(name), ".gguf") {
			return nil, errf(http.StatusBadRequest, "files: %q: only GGUF files are supported", name)
		}
		bp, err := s.cfg.Store.BlobPath(digest)
		if err != nil {
			return nil, errf(http.StatusBadRequest, "files: %q: %v", name, err)
		}
		if !s.cfg.Store.HasBlob(digest) {
			return nil, errf(http.StatusBadRequest, "files: %q: blob %s was not uploaded (POST /api/blobs/%s first)", name, digest, digest)
		}
		if mf.From != "" && len(req.Files) > 0 && mf.From != bp {
			if len(req.Files) > 1 {
				return nil, errf(http.StatusBadRequest, "files: only one GGUF file per model is supported")
			}
		}
		mf.From = bp
	}
	if len(req.Adapters) > 0 {
		return nil, errf(http.StatusBadRequest, "adapters are not supported yet")
	}
	if mf.From == "" {
		return nil, errf(http.StatusBadRequest, "neither 'from' nor 'files' was specified")
	}
	if req.Template != "" {
		mf.Template = &req.Template
	}
	if req.System != "" {
		mf.System = &req.System
	}
	switch l := req.License.(type) {
	case string:
		mf.License = []string{l}
	case []any:
		for _, e := range l {
			if str, ok := e.(string); ok {
				mf.License = append(mf.License, str)
			}
		}
	}
	for k, v := range req.Parameters {
		var o genOptions
		if err := o.set(k, v, s); err != nil {
			return nil, errf(http.StatusBadRequest, "parameters: %q: %v", k, err)
		}
		mf.Params[k] = v
	}
	for _, m := range req.Messages {
		mf.Messages = append(mf.Messages, store.Message{Role: m.Role, Content: m.Content})
	}
	return mf, nil
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req api.CreateRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	if _, err := store.ParseName(req.Model); err != nil {
		ollamaError(w, errf(http.StatusBadRequest, "%v", err))
		return
	}
	mf, err := s.createModelfile(&req)
	if err != nil {
		ollamaError(w, err)
		return
	}
	stream := req.Stream == nil || *req.Stream
	st := &streamer{w: w}
	progress := func(status string) {
		if stream && status != "success" {
			st.send(api.ProgressResponse{Status: status})
		}
	}
	if _, err := s.cfg.Store.Create(req.Model, mf, req.Quantize, progress); err != nil {
		if stream && st.started {
			st.fail(storeErr(err))
		} else {
			ollamaError(w, storeErr(err))
		}
		return
	}
	if stream {
		st.send(api.ProgressResponse{Status: "success"})
		return
	}
	writeJSON(w, http.StatusOK, api.ProgressResponse{Status: "success"})
}

func (s *Server) handleBlobHead(w http.ResponseWriter, r *http.Request) {
	d := r.PathValue("digest")
	if _, err := s.cfg.Store.BlobPath(d); err != nil {
		ollamaError(w, errf(http.StatusBadRequest, "%v", err))
		return
	}
	if !s.cfg.Store.HasBlob(d) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleBlobPost(w http.ResponseWriter, r *http.Request) {
	d := r.PathValue("digest")
	if _, err := s.cfg.Store.BlobPath(d); err != nil {
		ollamaError(w, errf(http.StatusBadRequest, "%v", err))
		return
	}
	if s.cfg.Store.HasBlob(d) {
		w.WriteHeader(http.StatusOK)
		return
	}
	if _, err := s.cfg.Store.AddBlobReader(r.Body, d); err != nil {
		ollamaError(w, errf(http.StatusBadRequest, "%v", err))
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	var req api.PullRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if req.Model == "" {
		req.Model = req.Name
	}
	if strings.TrimSpace(req.Model) == "" {
		ollamaError(w, errf(http.StatusBadRequest, "model is required"))
		return
	}
	stream := req.Stream == nil || *req.Stream
	st := &streamer{w: w}
	// The same code as `ferry pull` (package registry); cfg.Registry only
	// supplies endpoints (tests point them at a loopback registry).
	opts := registry.Options{Store: s.cfg.Store}
	if o := s.cfg.Registry; o != nil {
		opts = *o
		opts.Store = cmp.Or(o.Store, s.cfg.Store)
	}
	var lastSent time.Time
	opts.Progress = func(p registry.Progress) {
		if !stream || (p.Digest != "" && time.Since(lastSent) < 100*time.Millisecond && p.Completed < p.Total) {
			return
		}
		lastSent = time.Now()
		st.send(api.ProgressResponse{Status: p.Status, Digest: p.Digest, Total: p.Total, Completed: p.Completed})
	}
	_, err := registry.Pull(r.Context(), req.Model, opts)
	if err != nil {
		if st.started {
			st.fail(storeErr(err))
		} else {
			ollamaError(w, storeErr(err))
		}
		return
	}
	if !stream {
		writeJSON(w, http.StatusOK, api.ProgressResponse{Status: "success"})
	}
}

// embedInputs normalises an /api/embed input: a string or a list of them.
func embedInputs(in any) ([]string, error) {
	switch t := in.(type) {
	case nil:
		return nil, nil
	case string:
		if t == "" {
			return nil, nil // as Ollama: no input, just load the model
		}
		return []string{t}, nil
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, errf(http.StatusBadRequest, "input must be a string or an array of strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errf(http.StatusBadRequest, "input must be a string or an array of strings")
}

// embedInput is one text to embed, or token ids given directly (OpenAI's
// token-array inputs).
type embedInput struct {
	text   string
	tokens []int32
	ids    bool // tokens were given; text is unused
}

func textInputs(in []string) []embedInput {
	out := make([]embedInput, len(in))
	for i, t := range in {
		out[i] = embedInput{text: t}
	}
	return out
}

// embed computes embeddings for inputs through the model's scheduler (the
// engine is driven by one goroutine), L2-normalised when normalize is set
// as Ollama's /api/embed and OpenAI's endpoint return them; the legacy
// /api/embeddings returns the raw pooled vector. An input longer than the
// context is cut to it when truncate is set, else refused with 400. It
// returns the vectors, the number of tokens evaluated and the load time.
func (s *Server) embed(r *http.Request, name string, inputs []embedInput, opts map[string]any, keep *api.Duration, truncate, normalize bool) ([][]float32, int, time.Duration, error) {
	p, err := s.prepare(r.Context(), name, opts, keep)
	if err != nil {
		return nil, 0, 0, err
	}
	defer s.finish(p)
	if _, ok := p.r.be.(Embedder); !ok {
		return nil, 0, 0, errf(http.StatusNotImplemented, "model %q does not support embeddings", name)
	}
	ctxLen := p.r.be.ContextLength()
	vocab := p.r.be.VocabSize()
	// Tokenize and check every input before computing any vector.
	toks := make([][]int32, len(inputs))
	count := 0
	for i, in := range inputs {
		t := in.tokens
		if !in.ids {
			if t, err = p.r.be.Tokenize(in.text, true); err != nil {
				return nil, 0, 0, errf(http.StatusBadRequest, "tokenizing input %d: %v", i, err)
			}
		}
		for _, id := range t {
			if id < 0 || int(id) >= vocab {
				return nil, 0, 0, errf(http.StatusBadRequest, "input %d: token id %d is outside the vocabulary (0..%d)", i, id, vocab-1)
			}
		}
		if len(t) == 0 {
			return nil, 0, 0, errf(http.StatusBadRequest, "input %d is empty", i)
		}
		if len(t) > ctxLen {
			if !truncate {
				return nil, 0, 0, errf(http.StatusBadRequest, "input length exceeds maximum context length: input %d is %d tokens, the context holds %d", i, len(t), ctxLen)
			}
			t = t[:ctxLen]
		}
		toks[i] = t
		count += len(t)
	}
	out := make([][]float32, len(toks))
	for i, t := range toks {
		v, err := p.r.sched.Embed(r.Context(), t)
		if err != nil {
			return nil, 0, 0, err
		}
		for _, x := range v {
			// JSON cannot carry them; Ollama refuses the same way.
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, 0, 0, errf(http.StatusInternalServerError, "embedding of input %d contains NaN or Inf values", i)
			}
		}
		if normalize {
			normalizeL2(v)
		}
		out[i] = v
	}
	return out, count, p.load, nil
}

func normalizeL2(v []float32) {
	var ss float64
	for _, x := range v {
		ss += float64(x) * float64(x)
	}
	if ss == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(ss))
	for i := range v {
		v[i] *= inv
	}
}

func (s *Server) handleEmbed(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var req api.EmbedRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	inputs, err := embedInputs(req.Input)
	if err != nil {
		ollamaError(w, err)
		return
	}
	if len(inputs) > s.cfg.MaxMessages {
		ollamaError(w, errf(http.StatusBadRequest, "too many inputs: %d (limit %d)", len(inputs), s.cfg.MaxMessages))
		return
	}
	if len(inputs) == 0 {
		reason, err := s.loadOnly(r.Context(), req.Model, req.KeepAlive, req.Options)
		if err != nil {
			ollamaError(w, err)
			return
		}
		_ = reason
		writeJSON(w, http.StatusOK, api.EmbedResponse{Model: req.Model, Embeddings: [][]float32{}})
		return
	}
	truncate := req.Truncate == nil || *req.Truncate
	vecs, n, load, err := s.embed(r, req.Model, textInputs(inputs), req.Options, req.KeepAlive, truncate, true)
	if err != nil {
		ollamaError(w, err)
		return
	}
	if req.Dimensions > 0 {
		for i, v := range vecs {
			if req.Dimensions < len(v) {
				vecs[i] = v[:req.Dimensions]
				normalizeL2(vecs[i])
			}
		}
	}
	writeJSON(w, http.StatusOK, api.EmbedResponse{Model: req.Model, Embeddings: vecs, TotalDuration: time.Since(start), LoadDuration: load, PromptEvalCount: n})
}

func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	var req api.EmbeddingRequest
	if err := s.decodeJSON(r, &req); err != nil {
		ollamaError(w, err)
		return
	}
	if req.Prompt == "" {
		if _, err := s.loadOnly(r.Context(), req.Model, req.KeepAlive, req.Options); err != nil {
			ollamaError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, api.EmbeddingResponse{Embedding: []float64{}})
		return
	}
	vecs, _, _, err := s.embed(r, req.Model, textInputs([]string{req.Prompt}), req.Options, req.KeepAlive, true, false)
	if err != nil {
		ollamaError(w, err)
		return
	}
	out := make([]float64, len(vecs[0]))
	for i, x := range vecs[0] {
		out[i] = float64(x)
	}
	writeJSON(w, http.StatusOK, api.EmbeddingResponse{Embedding: out})
}

// hasFIM reports whether a GGUF names all three fill-in-the-middle tokens
// (fimFromMetadata on its token list).
func hasFIM(f *gguf.File) bool {
	toks := f.Strings("tokenizer.ggml.tokens")
	var index map[string]int32
	id := func(t string) (int32, bool) {
		if index == nil {
			index = make(map[string]int32, len(toks))
			for i, s := range toks {
				index[s] = int32(i)
			}
		}
		v, ok := index[t]
		return v, ok
	}
	return fimFromMetadata(&f.Metadata, len(toks), id).ok
}
