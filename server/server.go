package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/ferryhq/ferry/registry"
	"github.com/ferryhq/ferry/store"
)

// DefaultAddr is where `ferry serve` listens unless --host/FERRY_HOST say
// otherwise: loopback only, one port above Ollama's 11434 so both can run.
const DefaultAddr = "127.0.0.1:11435"

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	Store  *store.Store
	Loader Loader
	// Registry overrides /api/pull's endpoints and client (nil: the
	// public registries, as `ferry pull` uses).
	Registry *registry.Options
	Version  string

	Parallel  int           // sequences per model decoded together; default 4
	QueueSize int           // queued requests per model before 503; default 64
	MaxMemory int64         // budget for loaded models in bytes; 0 = unlimited
	KeepAlive time.Duration // default keep_alive; default 5m
	NumCtx    int           // default context length; 0 = min(model's, 4096)

	APIKeys     []string // accepted bearer tokens; empty = no auth
	CORSOrigins []string // extra allowed origins ("*" for any)

	MaxBodyBytes  int64 // default 4 MiB
	MaxJSONDepth  int   // default 64
	MaxMessages   int   // default 1024
	MaxTools      int   // default 128
	MaxNumCtx     int   // default 131072
	MaxNumPredict int   // default 32768

	Logger *slog.Logger
}

// Server is the HTTP server: handlers plus loaded models.
type Server struct {
	cfg     Config
	models  *Models
	metrics *metrics
	handler http.Handler
	keys    [][32]byte

	inflight sync.WaitGroup
	mu       sync.Mutex
	draining bool
}

// New builds a server.
func New(cfg Config) *Server {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 4
	}
	if cfg.QueueSize == 0 {
		cfg.QueueSize = 64
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 5 * time.Minute
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	if cfg.MaxJSONDepth <= 0 {
		cfg.MaxJSONDepth = 64
	}
	if cfg.MaxMessages <= 0 {
		cfg.MaxMessages = 1024
	}
	if cfg.MaxTools <= 0 {
		cfg.MaxTools = 128
	}
	if cfg.MaxNumCtx <= 0 {
		cfg.MaxNumCtx = 131072
	}
	if cfg.MaxNumPredict <= 0 {
		cfg.MaxNumPredict = 32768
	}
	if cfg.Version == "" {
		cfg.Version = "0.0.0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Store == nil {
		cfg.Store = store.Default()
	}
	s := &Server{cfg: cfg}
	for _, k := range cfg.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			s.keys = append(s.keys, sha256.Sum256([]byte(k)))
		}
	}
	s.metrics = newMetrics(s)
	so := SchedOptions{Parallel: cfg.Parallel, QueueSize: cfg.QueueSize, OnStep: s.metrics.onStep}
	s.models = newModels(cfg.Loader, cfg.MaxMemory, so, cfg.KeepAlive)
	s.handler = s.routes()
	return s
}

// Handler is the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve accepts connections on l until ctx is cancelled, then shuts down
// gracefully: it stops accepting, lets in-flight requests finish for up to
// grace, cancels the rest, unloads the models and returns nil.
func (s *Server) Serve(ctx context.Context, l net.Listener, grace time.Duration) error {
	baseCtx, cancelAll := context.WithCancel(context.Background())
	defer cancelAll()
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	select {
	case err := <-errc:
		s.models.closeAll()
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		// Deadline passed: cancel what is still generating.
		cancelAll()
		hs.Close()
	}
	s.models.closeAll()
	<-errc
	return nil
}

// Close unloads all models (for tests that use Handler directly).
func (s *Server) Close() { s.models.closeAll() }

// httpError is an error with a status code, written in the API's shape.
type httpError struct {
	status     int
	msg        string
	retryAfter int
	typ        string // OpenAI error type
}

func (e *httpError) Error() string { return e.msg }

func errf(status int, format string, a ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, a...)}
}

// classify maps internal errors to HTTP errors.
func classify(err error) *httpError {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he
	case errors.Is(err, store.ErrNotFound):
		return &httpError{status: http.StatusNotFound, msg: err.Error(), typ: "not_found_error"}
	case errors.Is(err, ErrQueueFull), errors.Is(err, ErrNoMemory):
		return &httpError{status: http.StatusServiceUnavailable, msg: err.Error(), retryAfter: 1, typ: "server_error"}
	case errors.Is(err, ErrTooLarge):
		return &httpError{status: http.StatusInsufficientStorage, msg: err.Error(), typ: "server_error"}
	case errors.Is(err, ErrClosed):
		return &httpError{status: http.StatusServiceUnavailable, msg: err.Error(), retryAfter: 1, typ: "server_error"}
	case errors.Is(err, ErrPromptTooLong):
		return &httpError{status: http.StatusBadRequest, msg: err.Error(), typ: "invalid_request_error"}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &httpError{status: 499, msg: "request cancelled"}
	}
	return &httpError{status: http.StatusInternalServerError, msg: err.Error(), typ: "server_error"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// ollamaError writes {"error": msg}.
func ollamaError(w http.ResponseWriter, err error) {
	he := classify(err)
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(he.retryAfter))
	}
	writeJSON(w, he.status, map[string]string{"error": he.msg})
}

// openaiError writes OpenAI's error object.
func openaiError(w http.ResponseWriter, err error) {
	he := classify(err)
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(he.retryAfter))
	}
	typ := he.typ
	if typ == "" {
		switch {
		case he.status == http.StatusUnauthorized:
			typ = "authentication_error"
		case he.status == http.StatusNotFound:
			typ = "not_found_error"
		case he.status < 500:
			typ = "invalid_request_error"
		default:
			typ = "server_error"
		}
	}
	body := map[string]any{"message": he.msg, "type": typ, "param": nil, "code": nil}
	if he.status == http.StatusNotFound && strings.Contains(he.msg, "model") {
		body["code"] = "model_not_found"
	}
	writeJSON(w, he.status, map[string]any{"error": body})
}

// routes builds the mux with the middleware chain.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	root := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.Method == http.MethodHead {
			return
		}
		io.WriteString(w, "Ferry is running")
	}
	// GET patterns also match HEAD.
	mux.HandleFunc("GET /{$}", root)
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.Version})
	})
	mux.HandleFunc("POST /api/generate", s.handleGenerate)
	mux.HandleFunc("POST /api/chat", s.handleChat)
	mux.HandleFunc("GET /api/tags", s.handleTags)
	mux.HandleFunc("POST /api/show", s.handleShow)
	mux.HandleFunc("GET /api/ps", s.handlePs)
	mux.HandleFunc("POST /api/copy", s.handleCopy)
	mux.HandleFunc("DELETE /api/delete", s.handleDelete)
	mux.HandleFunc("POST /api/create", s.handleCreate)
	mux.HandleFunc("POST /api/embed", s.handleEmbed)
	mux.HandleFunc("POST /api/embeddings", s.handleEmbeddings)
	mux.HandleFunc("POST /api/pull", s.handlePull)
	mux.HandleFunc("POST /api/push", func(w http.ResponseWriter, r *http.Request) {
		ollamaError(w, errf(http.StatusNotImplemented, "push is not supported"))
	})
	mux.HandleFunc("HEAD /api/blobs/{digest}", s.handleBlobHead)
	mux.HandleFunc("POST /api/blobs/{digest}", s.handleBlobPost)

	mux.HandleFunc("POST /v1/chat/completions", s.handleOAIChat)
	mux.HandleFunc("POST /v1/completions", s.handleOAICompletion)
	mux.HandleFunc("GET /v1/models", s.handleOAIModels)
	mux.HandleFunc("GET /v1/models/{id...}", s.handleOAIModel)
	mux.HandleFunc("POST /v1/embeddings", s.handleOAIEmbeddings)

	return s.middleware(mux)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "shutting down"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// middleware: panic recovery, CORS, auth, body limits, metrics.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		openai := strings.HasPrefix(r.URL.Path, "/v1/")
		rw := &statusWriter{ResponseWriter: w}
		start := time.Now()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.cfg.Logger.Error("panic serving request", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				if !rw.wrote {
					err := errf(http.StatusInternalServerError, "internal error: %v", p)
					if openai {
						openaiError(rw, err)
					} else {
						ollamaError(rw, err)
					}
				}
			}
			code := rw.status
			if code == 0 {
				code = http.StatusOK
			}
			s.metrics.request(r, code, time.Since(start))
			s.cfg.Logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", code, "duration", time.Since(start).Round(time.Microsecond), "remote", r.RemoteAddr)
		}()
		if !s.cors(rw, r) {
			return
		}
		if r.Method == http.MethodOptions {
			rw.WriteHeader(http.StatusNoContent)
			return
		}
		if !s.authorized(r) {
			rw.Header().Set("WWW-Authenticate", `Bearer realm="ferry"`)
			err := &httpError{status: http.StatusUnauthorized, msg: "missing or invalid API key (send Authorization: Bearer <key>)", typ: "invalid_request_error"}
			if openai {
				openaiError(rw, err)
			} else {
				ollamaError(rw, err)
			}
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/blobs/") {
			// Model uploads: no size cap beyond the disk, and no body
			// deadline (the digest check rejects a truncated upload).
			r.Body = http.MaxBytesReader(rw, r.Body, 1<<40)
		} else {
			r.Body = http.MaxBytesReader(rw, r.Body, s.cfg.MaxBodyBytes)
			// A slow client gets 60 s to send its (small) request body.
			http.NewResponseController(w).SetReadDeadline(time.Now().Add(60 * time.Second))
		}
		next.ServeHTTP(rw, r)
	})
}

// authorized checks the bearer token in constant time; /health and the
// CORS preflight are public.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.keys) == 0 || r.URL.Path == "/health" || r.Method == http.MethodOptions {
		return true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.Header.Get("X-Api-Key")
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for _, k := range s.keys {
		match |= subtle.ConstantTimeCompare(h[:], k[:])
	}
	return tok != "" && match == 1
}

// cors sets CORS headers for allowed origins. Browsers get access from
// loopback origins and the configured list; a disallowed preflight is
// answered 403.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if !s.originAllowed(origin) {
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusForbidden)
			return false
		}
		return true // no CORS headers: the browser blocks the response
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS")
	if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
		h.Set("Access-Control-Allow-Headers", rh)
	} else {
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, User-Agent, Accept, X-Requested-With, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout")
	}
	h.Set("Access-Control-Expose-Headers", "Retry-After, X-Request-Id")
	h.Set("Access-Control-Max-Age", "600")
	return true
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	for _, p := range []string{"http://localhost", "https://localhost", "http://127.0.0.1", "https://127.0.0.1", "http://[::1]", "https://[::1]"} {
		if origin == p || strings.HasPrefix(origin, p+":") {
			return true
		}
	}
	return strings.HasPrefix(origin, "app://") || strings.HasPrefix(origin, "file://") || strings.HasPrefix(origin, "tauri://") || strings.HasPrefix(origin, "vscode-webview://")
}

// statusWriter records the status and whether anything was written; it
// passes Flush through for streaming.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(c int) {
	if !w.wrote {
		w.status = c
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(c)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
