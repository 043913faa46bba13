package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Runtime is another local LLM runtime found on the machine.
type Runtime struct {
	Name    string      `json:"name"`
	Path    string      `json:"path"`
	Version string      `json:"version,omitempty"`
	Binary  *BinaryInfo `json:"binary,omitempty"`
	// Native is false when the binary would run translated (an x86_64
	// build on Apple Silicon): several times slower, and no Metal.
	Native bool `json:"native"`
	// Server is set when the runtime's HTTP server answered.
	Server *ServerInfo `json:"server,omitempty"`
	Note   string      `json:"note,omitempty"`
}

// ServerInfo describes a running server that answered a version request.
type ServerInfo struct {
	URL     string `json:"url"`
	Version string `json:"version"`
}

// candidates are executables doctor looks for, with where to look beyond
// PATH (app bundles and default install locations).
var candidates = []struct {
	name   string
	extra  []string
	verArg []string
}{
	{"ollama", []string{"/usr/local/bin/ollama", "/Applications/Ollama.app/Contents/Resources/ollama", "/opt/homebrew/bin/ollama"}, []string{"--version"}},
	{"llama-server", []string{"/opt/homebrew/bin/llama-server", "/usr/local/bin/llama-server"}, []string{"--version"}},
	{"llama-cli", []string{"/opt/homebrew/bin/llama-cli", "/usr/local/bin/llama-cli"}, []string{"--version"}},
	{"llama-bench", []string{"/opt/homebrew/bin/llama-bench", "/usr/local/bin/llama-bench"}, []string{"--version"}},
	{"lms", []string{"~/.lmstudio/bin/lms", "~/.cache/lm-studio/bin/lms"}, []string{"version"}},
	{"ferry", nil, []string{"version"}},
}

var versionRE = regexp.MustCompile(`(?i)(?:version[:\s]+|\bv)?(\d+\.\d+(?:\.\d+)?(?:[-+.][0-9A-Za-z.]+)?|\bb?\d{3,5}\b)`)

// FindRuntimes looks for Ollama, llama.cpp, LM Studio, mlx-lm and ferry.
func FindRuntimes(env *Env, hostArch string) []Runtime {
	var out []Runtime
	for _, c := range candidates {
		p := ""
		if env.LookPath != nil {
			p, _ = env.LookPath(c.name)
		}
		if p == "" {
			for _, e := range c.extra {
				e = expandHome(env, e)
				if st, err := os.Stat(env.path(e)); err == nil && !st.IsDir() {
					p = env.path(e)
					break
				}
			}
		}
		if p == "" {
			continue
		}
		rt := Runtime{Name: c.name, Path: p, Native: true}
		if bi, err := ReadBinaryInfo(p); err == nil {
			rt.Binary = &bi
			rt.Native = bi.RunsNatively(hostArch)
			if !rt.Native {
				rt.Note = fmt.Sprintf("%s binary on an %s host: it runs translated or not at all; install the %s build", strings.Join(bi.Arches, "+"), hostArch, hostArch)
			}
		}
		if env.Run != nil {
			ctx, cancel := context.WithTimeout(context.Background(), env.timeout())
			out, _ := env.Run(ctx, p, c.verArg...)
			cancel()
			rt.Version = parseVersion(out)
		}
		if c.name == "llama-server" || c.name == "llama-cli" {
			rt.Note = strings.TrimSpace(rt.Note + " " + llamaBackends(p))
		}
		out = append(out, rt)
	}
	if srv := ollamaServer(env); srv != nil {
		found := false
		for i := range out {
			if out[i].Name == "ollama" {
				out[i].Server = srv
				found = true
			}
		}
		if !found {
			out = append(out, Runtime{Name: "ollama", Server: srv, Native: true, Note: "server answers, binary not found on PATH"})
		}
	}
	if py := findMLXLM(env); py != "" {
		out = append(out, Runtime{Name: "mlx-lm", Path: py, Native: true, Note: "python with mlx_lm importable"})
	}
	return out
}

func expandHome(env *Env, p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return filepath.Join(env.Home, rest)
	}
	return p
}

func parseVersion(s string) string {
	for _, line := range strings.Split(s, "\n") {
		l := strings.ToLower(line)
		if strings.Contains(l, "version") || strings.HasPrefix(strings.TrimSpace(l), "v") || strings.Contains(l, "build") {
			if m := versionRE.FindStringSubmatch(line); m != nil {
				return m[1]
			}
		}
	}
	if m := versionRE.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// llamaBackends lists the ggml backend libraries shipped next to a llama.cpp
// binary (libggml-metal, -cuda, -vulkan, -cpu...), which say what it can use.
func llamaBackends(bin string) string {
	dir := filepath.Dir(bin)
	var found []string
	for _, d := range []string{dir, filepath.Join(dir, "..", "lib")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, "libggml-") {
				n = strings.TrimPrefix(n, "libggml-")
				n = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, ".so"), ".dylib"), ".dll")
				if n != "base" {
					found = append(found, n)
				}
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	return "backends: " + strings.Join(found, ", ")
}

// ollamaServer asks OLLAMA_HOST (default 127.0.0.1:11434) for its version.
func ollamaServer(env *Env) *ServerInfo {
	if env.HTTP == nil {
		return nil
	}
	base := "http://127.0.0.1:11434"
	if env.Getenv != nil {
		if h := env.Getenv("OLLAMA_HOST"); h != "" {
			if !strings.Contains(h, "://") {
				h = "http://" + h
			}
			base = strings.TrimRight(h, "/")
			if strings.HasPrefix(base, "http://0.0.0.0") {
				base = strings.Replace(base, "0.0.0.0", "127.0.0.1", 1)
			}
		}
	}
	return AskVersion(env, base)
}

// AskVersion GETs base + /api/version and returns the reported version,
// or nil when nothing sensible answers within the timeout.
func AskVersion(env *Env, base string) *ServerInfo {
	ctx, cancel := context.WithTimeout(context.Background(), env.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/api/version", nil)
	if err != nil {
		return nil
	}
	resp, err := env.HTTP.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil
	}
	var v struct {
		Version string `json:"version"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<16))
	if err := dec.Decode(&v); err != nil || v.Version == "" {
		return nil
	}
	return &ServerInfo{URL: base, Version: v.Version}
}

// findMLXLM looks for a python that can import mlx_lm (only meaningful on
// Apple Silicon, but checked everywhere: cheap and honest).
func findMLXLM(env *Env) string {
	if env.LookPath == nil || env.Run == nil {
		return ""
	}
	for _, py := range []string{"python3", "python"} {
		p, err := env.LookPath(py)
		if err != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), env.timeout())
		out, err := env.Run(ctx, p, "-c", "import mlx_lm; print('ok')")
		cancel()
		if err == nil && strings.Contains(out, "ok") {
			return p
		}
	}
	return ""
}
