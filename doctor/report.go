package doctor

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Model is a model file found on the machine, as the caller (the CLI, from
// the model store and discovery) describes it.
type Model struct {
	Name   string `json:"name"`
	Source string `json:"source"` // "ferry", "ollama", "huggingface", "lmstudio", "mlx"
	Path   string `json:"path"`
	Format string `json:"format"`
	Quant  string `json:"quantization,omitempty"`
	Bytes  uint64 `json:"size_bytes"`
	// Params is the parameter count (0 when unknown).
	Params uint64 `json:"parameters,omitempty"`
	// NeedBytes is the memory needed to run it at the report's context
	// (weights + KV cache + compute buffers); 0 when unknown.
	NeedBytes uint64 `json:"need_bytes,omitempty"`
	Fit       string `json:"fit"`
	Fits      bool   `json:"fits"`
}

// Report is doctor's whole answer.
type Report struct {
	Time            time.Time `json:"time"`
	Host            Host      `json:"host"`
	BudgetBytes     uint64    `json:"memory_budget_bytes"`
	Context         int       `json:"context"`
	Runtimes        []Runtime `json:"runtimes"`
	Models          []Model   `json:"models"`
	Recommendations []string  `json:"recommendations"`
}

// Budget is the memory ferry should plan to use for a model: total memory
// (or the container's limit) less headroom for the OS and other programs.
func Budget(h Host) uint64 {
	total := h.MemTotal
	if h.CgroupMemLimit > 0 && (total == 0 || h.CgroupMemLimit < total) {
		total = h.CgroupMemLimit
	}
	if total == 0 {
		return 0
	}
	headroom := total * 15 / 100
	if headroom < 2<<30 {
		headroom = 2 << 30
	}
	if headroom >= total {
		return total / 2
	}
	return total - headroom
}

// q4KMBitsPerWeight is the average cost of llama.cpp's Q4_K_M mix, used to
// say what a too-large model would need once quantized.
const q4KMBitsPerWeight = 4.89

// Judge fills in the fit verdict of each model against budget.
func Judge(models []Model, budget uint64, ctx int) {
	for i := range models {
		m := &models[i]
		need := m.NeedBytes
		if need == 0 {
			need = m.Bytes + m.Bytes/10
		}
		switch {
		case budget == 0:
			m.Fit = "unknown: memory size not known"
		case need <= budget:
			m.Fits = true
			m.Fit = fmt.Sprintf("fits with %s to spare at ctx %d", gb(budget-need), ctx)
		default:
			m.Fit = fmt.Sprintf("too large: needs %s at ctx %d, budget is %s", gb(need), ctx, gb(budget))
			if m.Params > 0 {
				kv := uint64(0)
				if need > m.Bytes {
					kv = need - m.Bytes
				}
				q := uint64(float64(m.Params)*q4KMBitsPerWeight/8) + kv
				if q < need {
					verdict := "would fit"
					if q > budget {
						verdict = "would still not fit"
					}
					m.Fit += fmt.Sprintf("; the Q4_K_M of this model would need %s (%s)", gb(q), verdict)
				}
			}
		}
	}
}

// Recommend lists the next steps for this machine, most important first.
func Recommend(r *Report) []string {
	var rec []string
	h := r.Host
	if h.Rosetta {
		rec = append(rec, "WARNING: ferry is running translated by Rosetta on Apple Silicon, several times slower and without NEON. Install the darwin/arm64 build: `GOARCH=arm64 go install ./cmd/ferry` (or download the arm64 binary).")
	}
	if h.GoArch != h.Arch && !h.Rosetta && h.Arch != "" {
		rec = append(rec, fmt.Sprintf("ferry was built for %s but this machine is %s: install the %s build.", h.GoArch, h.Arch, h.Arch))
	}
	for _, rt := range r.Runtimes {
		if !rt.Native && rt.Binary != nil {
			rec = append(rec, fmt.Sprintf("%s at %s is a %s build on an %s machine: reinstall the native %s build (it will be several times faster).", rt.Name, rt.Path, strings.Join(rt.Binary.Arches, "+"), h.Arch, h.Arch))
		}
	}
	if h.Arch == "amd64" && !hasFeature(h, "avx2") {
		rec = append(rec, "This CPU lacks AVX2: quantized models will run on the portable kernels, much slower.")
	}
	if h.CgroupMemLimit > 0 && h.MemTotal > 0 && h.CgroupMemLimit < h.MemTotal {
		rec = append(rec, fmt.Sprintf("A container limits memory to %s of the machine's %s: plan models for the limit.", gb(h.CgroupMemLimit), gb(h.MemTotal)))
	}
	threads := h.Physical
	if h.PCores > 0 {
		threads = h.PCores
	}
	if threads > 0 {
		rec = append(rec, fmt.Sprintf("Use --threads %d (the %s cores); more threads than that slows decoding down.", threads, coreKind(h)))
	}
	var fit, tooBig int
	for _, m := range r.Models {
		if m.Fits {
			fit++
		} else if m.NeedBytes > 0 || m.Bytes > 0 {
			tooBig++
		}
	}
	if len(r.Models) == 0 {
		rec = append(rec, "No models found. Measure what this machine can do without downloading anything: `ferry bench synthetic:llama3.2-1b:q4_k_m`.")
	} else if tooBig > 0 {
		rec = append(rec, fmt.Sprintf("%d of %d models found do not fit in the %s budget: quantize them (`ferry quantize IN.gguf OUT.gguf Q4_K_M`) or choose a smaller model.", tooBig, len(r.Models), gb(r.BudgetBytes)))
	}
	if size := largestPresetThatFits(r.BudgetBytes); size != "" {
		rec = append(rec, "At Q4_K_M, models up to about "+size+" parameters fit this machine's memory budget.")
	}
	return rec
}

func coreKind(h Host) string {
	if h.PCores > 0 {
		return "performance"
	}
	return "physical"
}

func hasFeature(h Host, f string) bool {
	for _, x := range h.Features {
		if x == f {
			return true
		}
	}
	return false
}

// largestPresetThatFits names the largest common model size whose Q4_K_M
// weights plus an 8K-context KV cache fit the budget.
func largestPresetThatFits(budget uint64) string {
	sizes := []struct {
		name   string
		params float64
		kvGB   float64 // F16 KV cache at 8192 context, typical GQA model
	}{{"70B", 70e9, 2.5}, {"32B", 32e9, 2.0}, {"14B", 14e9, 1.5}, {"8B", 8e9, 1.0}, {"3B", 3e9, 0.9}, {"1B", 1e9, 0.25}}
	for _, s := range sizes {
		need := s.params*q4KMBitsPerWeight/8 + s.kvGB*(1<<30) + 0.5*(1<<30)
		if need <= float64(budget) {
			return s.name
		}
	}
	return ""
}

// Build assembles a report from probes and the models the caller found.
func Build(env *Env, models []Model, ctx int) Report {
	r := Report{Time: time.Now().UTC(), Context: ctx}
	r.Host = ProbeHost(env)
	r.BudgetBytes = Budget(r.Host)
	r.Runtimes = FindRuntimes(env, r.Host.Arch)
	sort.Slice(models, func(i, j int) bool { return models[i].Name < models[j].Name })
	Judge(models, r.BudgetBytes, ctx)
	r.Models = models
	r.Recommendations = Recommend(&r)
	return r
}

func gb(b uint64) string {
	if b < 1<<30 {
		return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GB", float64(b)/(1<<30))
}

// Text renders the report for a terminal.
func (r *Report) Text() string {
	var b strings.Builder
	h := r.Host
	fmt.Fprintf(&b, "Host\n")
	fmt.Fprintf(&b, "  OS:        %s (%s), kernel %s\n", h.OSVersion, h.OS, h.Kernel)
	fmt.Fprintf(&b, "  CPU:       %s, %s\n", h.CPUModel, h.Arch)
	cores := fmt.Sprintf("%d logical, %d physical", h.Logical, h.Physical)
	if h.PCores > 0 || h.ECores > 0 {
		cores += fmt.Sprintf(" (%d performance + %d efficiency)", h.PCores, h.ECores)
	}
	fmt.Fprintf(&b, "  Cores:     %s\n", cores)
	feat := strings.Join(h.Features, " ")
	if feat == "" {
		feat = "unknown"
	}
	fmt.Fprintf(&b, "  SIMD:      %s\n", feat)
	fmt.Fprintf(&b, "  Memory:    %s total, %s available; budget for models %s\n", gb(h.MemTotal), gb(h.MemAvailable), gb(r.BudgetBytes))
	if h.CgroupMemLimit > 0 || h.CgroupCPULimit > 0 {
		fmt.Fprintf(&b, "  Container: memory limit %s, CPU limit %.1f\n", gb(h.CgroupMemLimit), h.CgroupCPULimit)
	}
	if h.AppleChip != "" || h.UnifiedMemory {
		fmt.Fprintf(&b, "  Apple:     %s, unified memory, GPU wired limit %s, Metal %v\n", h.AppleChip, gb(h.GPUWiredLimit), h.Metal)
	}
	if h.Rosetta {
		fmt.Fprintf(&b, "  !!! RUNNING UNDER ROSETTA: install the arm64 build of ferry !!!\n")
	}
	if len(h.GPUs) > 0 {
		fmt.Fprintf(&b, "  GPUs:      %s\n", strings.Join(h.GPUs, ", "))
	}
	fmt.Fprintf(&b, "  ferry:     %s/%s, %s\n", h.OS, h.GoArch, runtime.Version())
	fmt.Fprintf(&b, "\nRuntimes\n")
	if len(r.Runtimes) == 0 {
		fmt.Fprintf(&b, "  none found (Ollama, llama.cpp, LM Studio, mlx-lm)\n")
	}
	for _, rt := range r.Runtimes {
		arch := "?"
		if rt.Binary != nil {
			arch = strings.Join(rt.Binary.Arches, "+")
		}
		line := fmt.Sprintf("  %-13s %-10s %-8s %s", rt.Name, orDash(rt.Version), arch, rt.Path)
		if rt.Server != nil {
			line += fmt.Sprintf("  [server %s answers, v%s]", rt.Server.URL, rt.Server.Version)
		}
		if rt.Note != "" {
			line += "  (" + rt.Note + ")"
		}
		fmt.Fprintln(&b, line)
	}
	fmt.Fprintf(&b, "\nModels (fit at ctx %d)\n", r.Context)
	if len(r.Models) == 0 {
		fmt.Fprintf(&b, "  none found\n")
	}
	for _, m := range r.Models {
		fmt.Fprintf(&b, "  %-40s %-11s %-8s %9s  %s\n", m.Name, m.Source, orDash(m.Quant), gb(m.Bytes), m.Fit)
	}
	fmt.Fprintf(&b, "\nRecommendations\n")
	for i, s := range r.Recommendations {
		fmt.Fprintf(&b, "  %d. %s\n", i+1, s)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
