package store

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// discoverFolders finds models in the Hugging Face cache and LM Studio's
// folders. GGUF files are listed one by one; a folder with config.json and
// safetensors is one model (MLX when its config has a "quantization" entry
// or the repo says mlx).
func (s *Store) discoverFolders() []*Model {
	var out []*Model
	if s.HFHubDir != "" {
		out = append(out, discoverHF(s.HFHubDir)...)
	}
	for _, d := range s.LMStudioDir {
		out = append(out, discoverLMStudio(d)...)
	}
	return out
}

// discoverHF walks hub/models--ORG--REPO/snapshots/<rev>/ of the revision
// refs/main points at (or the newest snapshot).
func discoverHF(hub string) []*Model {
	ents, err := os.ReadDir(hub)
	if err != nil {
		return nil
	}
	var out []*Model
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), "models--")
		if !ok || !e.IsDir() {
			continue
		}
		repo := strings.Replace(name, "--", "/", 1)
		repoDir := filepath.Join(hub, e.Name())
		snap := ""
		if b, err := os.ReadFile(filepath.Join(repoDir, "refs", "main")); err == nil {
			snap = filepath.Join(repoDir, "snapshots", strings.TrimSpace(string(b)))
		}
		if st, err := os.Stat(snap); snap == "" || err != nil || !st.IsDir() {
			snaps, _ := os.ReadDir(filepath.Join(repoDir, "snapshots"))
			if len(snaps) == 0 {
				continue
			}
			snap = filepath.Join(repoDir, "snapshots", snaps[len(snaps)-1].Name())
		}
		out = append(out, modelsIn(snap, "hf.co/"+repo, SourceHuggingFace)...)
	}
	return out
}

// discoverLMStudio walks <root>/<publisher>/<repo>/.
func discoverLMStudio(root string) []*Model {
	pubs, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var out []*Model
	for _, p := range pubs {
		if !p.IsDir() || strings.HasPrefix(p.Name(), ".") {
			continue
		}
		repos, _ := os.ReadDir(filepath.Join(root, p.Name()))
		for _, r := range repos {
			if r.IsDir() {
				out = append(out, modelsIn(filepath.Join(root, p.Name(), r.Name()), "lmstudio/"+p.Name()+"/"+r.Name(), SourceLMStudio)...)
			}
		}
	}
	return out
}

// modelsIn lists the models of one repo folder: each GGUF file (named
// base:QUANT after the quantization in its file name) or the folder as a
// whole when it holds safetensors weights.
func modelsIn(dir, base string, src Source) []*Model {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []*Model
	var ggufs []string
	hasST := false
	for _, e := range ents {
		n := strings.ToLower(e.Name())
		switch {
		case strings.HasSuffix(n, ".gguf") && !strings.Contains(n, "mmproj"):
			ggufs = append(ggufs, e.Name())
		case strings.HasSuffix(n, ".safetensors"):
			hasST = true
		}
	}
	sort.Strings(ggufs)
	for _, g := range ggufs {
		p := filepath.Join(dir, g)
		st, err := os.Stat(p) // follows the cache's symlinks into blobs/
		if err != nil {
			continue
		}
		tag := QuantFromFilename(g)
		if tag == "" {
			tag = strings.TrimSuffix(g, filepath.Ext(g))
		}
		out = append(out, &Model{Name: base + ":" + tag, Source: src, Path: p, Format: "gguf", Size: st.Size(), ModifiedAt: st.ModTime()})
	}
	if hasST {
		if _, err := os.Stat(filepath.Join(dir, "config.json")); err == nil {
			st, _ := os.Stat(dir)
			out = append(out, &Model{Name: base + ":" + DefaultTag, Source: src, Path: dir, Format: folderFormat(dir), Size: dirSize(dir), ModifiedAt: st.ModTime()})
		}
	}
	return out
}

// folderFormat tells an MLX folder from a plain HF safetensors folder.
func folderFormat(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "unknown"
	}
	var cfg map[string]any
	if json.Unmarshal(b, &cfg) == nil {
		if _, ok := cfg["quantization"]; ok {
			return "mlx"
		}
	}
	if strings.Contains(strings.ToLower(dir), "mlx") {
		return "mlx"
	}
	return "safetensors"
}

// quantNames are the ggml quantization names recognised in file names,
// longest first so that Q4_K_M wins over Q4_K.
var quantNames = []string{
	"IQ2_XXS", "IQ3_XXS", "IQ1_S", "IQ1_M", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ4_NL", "IQ4_XS",
	"Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
	"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "BF16", "F16", "F32",
}

// QuantFromFilename returns the quantization named in a GGUF file name
// ("Llama-3.2-1B-Instruct-Q4_K_M.gguf" -> "Q4_K_M"), or "".
func QuantFromFilename(name string) string {
	u := strings.ToUpper(strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)))
	best := ""
	for _, q := range quantNames {
		i := strings.LastIndex(u, q)
		if i < 0 {
			continue
		}
		end := i + len(q)
		if (i == 0 || !isAlnum(u[i-1])) && (end == len(u) || !isAlnum(u[end])) && len(q) > len(best) {
			best = q
		}
	}
	return best
}

func isAlnum(c byte) bool { return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
