// Package interop checks ferry's output against llama.cpp itself: GGUF files
// that ferry writes are loaded and run by llama.cpp, tokenized with
// llama.cpp's tokenizer, and timed side by side with ferry's engine.
//
// llama.cpp is not a Go dependency: it comes as the prebuilt CPU build inside
// the npm package node-llama-cpp (and its per-platform binary packages),
// installed into this folder by `npm ci` from the committed lock file, and
// driven by llama.mjs through Node. Nothing is built or downloaded at run
// time. When Node or the node modules are missing, the tests skip (and fail
// under CI, where .ci/stages/interop.sh installs them).
package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Llama runs llama.cpp through llama.mjs.
type Llama struct {
	// Dir is the folder holding llama.mjs and node_modules.
	Dir string
	// Node is the node executable.
	Node string
}

// ErrNotInstalled means Node or the node-llama-cpp modules are missing.
var ErrNotInstalled = errors.New("llama.cpp via node-llama-cpp is not installed")

// Find locates Node and the node modules in dir (the interop folder). The
// error wraps ErrNotInstalled and says how to install them.
func Find(dir string) (*Llama, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("%w: no node on PATH (Node 20+ is needed)", ErrNotInstalled)
	}
	if _, err := os.Stat(filepath.Join(dir, "llama.mjs")); err != nil {
		return nil, fmt.Errorf("interop: %s has no llama.mjs", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-llama-cpp", "package.json")); err != nil {
		return nil, fmt.Errorf("%w: run `npm ci` in %s (see docs/interop.md)", ErrNotInstalled, dir)
	}
	if runtime.GOOS == "linux" && runtime.GOARCH == "amd64" {
		// The binary package for this platform; npm skips it silently on a
		// platform mismatch, and node-llama-cpp would then want to build.
		p := filepath.Join(dir, "node_modules", "@node-llama-cpp", "linux-x64", "bins")
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%w: %s is missing (npm ci did not install the prebuilt binary)", ErrNotInstalled, p)
		}
	}
	return &Llama{Dir: dir, Node: node}, nil
}

// Job is one request to llama.mjs; Op selects the fields that matter.
type Job struct {
	Op  string  `json:"op"`            // info, greedy, tokenize, detokenize, bench
	IDs []int32 `json:"ids,omitempty"` // greedy: the prompt
	N   int     `json:"n,omitempty"`   // greedy: tokens to generate
	// probs: positions (0-based, into IDs) whose next-token distribution
	// llama.cpp returns.
	Positions []int     `json:"positions,omitempty"`
	Texts     []string  `json:"texts,omitempty"`   // tokenize
	Special   bool      `json:"special,omitempty"` // tokenize: parse special tokens
	IDLists   [][]int32 `json:"-"`                 // detokenize
	PP        int       `json:"pp,omitempty"`      // bench: prompt tokens
	TG        int       `json:"tg,omitempty"`      // bench: generated tokens
	Reps      int       `json:"reps,omitempty"`    // bench: repetitions
	Seed      int       `json:"seed,omitempty"`    // bench: prompt seed
}

// MarshalJSON sends IDLists as "ids" for detokenize jobs.
func (j Job) MarshalJSON() ([]byte, error) {
	type plain Job
	if j.Op == "detokenize" {
		return json.Marshal(struct {
			Op      string    `json:"op"`
			IDs     [][]int32 `json:"ids"`
			Special bool      `json:"special,omitempty"`
		}{j.Op, j.IDLists, j.Special})
	}
	return json.Marshal(plain(j))
}

// Result is llama.mjs's answer to one Job.
type Result struct {
	Op    string `json:"op"`
	Error string `json:"error,omitempty"`
	// greedy: generated ids; tokenize: one id list per text.
	IDs   json.RawMessage `json:"ids,omitempty"`
	Texts []string        `json:"texts,omitempty"`
	// probs: llama.cpp's next-token probabilities (softmax of its logits),
	// one dense row per requested position.
	Probs [][]float64 `json:"probs,omitempty"`
	// info
	Release      map[string]string `json:"llama_cpp_release,omitempty"`
	Architecture string            `json:"architecture,omitempty"`
	VocabType    string            `json:"vocab_type,omitempty"`
	NVocab       int               `json:"n_vocab,omitempty"`
	BOS          *int32            `json:"bos,omitempty"`
	EOS          *int32            `json:"eos,omitempty"`
	// bench
	PPTokensPerSec []float64 `json:"pp_tps,omitempty"`
	TGTokensPerSec []float64 `json:"tg_tps,omitempty"`
	// bench with Options.Perf: the same runs by llama.cpp's own timers
	// (llama_perf_context), without node-llama-cpp's per-token overhead.
	LlamaPPTokensPerSec []float64 `json:"llama_pp_tps,omitempty"`
	LlamaTGTokensPerSec []float64 `json:"llama_tg_tps,omitempty"`
}

// Greedy decodes IDs of a greedy job.
func (r Result) Greedy() ([]int32, error) {
	var ids []int32
	err := json.Unmarshal(r.IDs, &ids)
	return ids, err
}

// Tokens decodes IDs of a tokenize job.
func (r Result) Tokens() ([][]int32, error) {
	var ids [][]int32
	err := json.Unmarshal(r.IDs, &ids)
	return ids, err
}

// Response is llama.mjs's answer for one model.
type Response struct {
	Model string `json:"model"`
	// LoadError is llama.cpp's refusal to load the file, if it refused.
	LoadError string   `json:"load_error,omitempty"`
	Results   []Result `json:"results"`
	// Logs are llama.cpp's last warnings and errors.
	Logs []string `json:"logs,omitempty"`
}

// Run loads modelPath in llama.cpp with the given thread count and context
// size and answers jobs in order.
func (l *Llama) Run(ctx context.Context, modelPath string, threads, nctx int, jobs ...Job) (*Response, error) {
	return l.RunWith(ctx, modelPath, Options{Threads: threads, Context: nctx}, jobs...)
}

// Options are the per-process settings of a llama.mjs run.
type Options struct {
	Threads, Context int
	// VocabOnly loads only the vocabulary (tokenize/detokenize jobs).
	VocabOnly bool
	// Perf turns on llama.cpp's own timers for bench jobs.
	Perf bool
}

// RunWith is Run with all options.
func (l *Llama) RunWith(ctx context.Context, modelPath string, opt Options, jobs ...Job) (*Response, error) {
	return l.run(ctx, modelPath, opt, jobs)
}

// RunVocab loads only the vocabulary of modelPath (a GGUF with or without
// tensors) and answers tokenize/detokenize jobs.
func (l *Llama) RunVocab(ctx context.Context, modelPath string, jobs ...Job) (*Response, error) {
	return l.run(ctx, modelPath, Options{Threads: 1, VocabOnly: true}, jobs)
}

func (l *Llama) run(ctx context.Context, modelPath string, opt Options, jobs []Job) (*Response, error) {
	abs, err := filepath.Abs(modelPath)
	if err != nil {
		return nil, err
	}
	req, err := json.Marshal(map[string]any{"model": abs, "vocab_only": opt.VocabOnly, "perf": opt.Perf,
		"threads": opt.Threads, "context": opt.Context, "jobs": jobs})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, l.Node, "llama.mjs")
	cmd.Dir = l.Dir
	cmd.Stdin = bytes.NewReader(req)
	// Belt and braces: node-llama-cpp must never fetch or compile llama.cpp.
	cmd.Env = append(os.Environ(), "NODE_LLAMA_CPP_SKIP_DOWNLOAD=true")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("llama.mjs on %s: %v: %s", modelPath, err, tail(stderr.String(), 2000))
	}
	var resp Response
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		return nil, fmt.Errorf("llama.mjs on %s: bad output: %v: %s", modelPath, err, tail(stdout.String(), 500))
	}
	if resp.LoadError == "" && len(resp.Results) != len(jobs) {
		return nil, fmt.Errorf("llama.mjs on %s: %d results for %d jobs", modelPath, len(resp.Results), len(jobs))
	}
	return &resp, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
