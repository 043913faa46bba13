package doctor

import (
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/cpu"
)

// Host describes the machine. Zero values and "unknown" mean a probe could
// not answer.
type Host struct {
	OS        string   `json:"os"`
	OSVersion string   `json:"os_version"`
	Kernel    string   `json:"kernel"`
	Arch      string   `json:"arch"`       // the hardware's architecture
	GoArch    string   `json:"ferry_arch"` // the architecture ferry was built for
	CPUModel  string   `json:"cpu_model"`
	Logical   int      `json:"logical_cores"`
	Physical  int      `json:"physical_cores"`
	PCores    int      `json:"performance_cores,omitempty"`
	ECores    int      `json:"efficiency_cores,omitempty"`
	Features  []string `json:"simd_features"`

	MemTotal     uint64 `json:"memory_total_bytes"`
	MemAvailable uint64 `json:"memory_available_bytes"`

	// Linux containers.
	CgroupMemLimit uint64   `json:"cgroup_memory_limit_bytes,omitempty"`
	CgroupCPULimit float64  `json:"cgroup_cpu_limit,omitempty"`
	GPUs           []string `json:"gpus,omitempty"`

	// Apple.
	AppleChip     string `json:"apple_chip,omitempty"`
	Rosetta       bool   `json:"rosetta_translated"`
	UnifiedMemory bool   `json:"unified_memory"`
	GPUWiredLimit uint64 `json:"gpu_wired_limit_bytes,omitempty"`
	Metal         bool   `json:"metal"`
}

// ProbeHost fills a Host from env.
func ProbeHost(env *Env) Host {
	h := Host{OS: env.GOOS, GoArch: env.GOARCH, Arch: env.GOARCH, CPUModel: "unknown", OSVersion: "unknown", Kernel: "unknown"}
	switch env.GOOS {
	case "linux":
		probeLinux(env, &h)
	case "darwin":
		probeDarwin(env, &h)
	}
	if h.Logical == 0 && env.GOOS == runtime.GOOS {
		h.Logical = runtime.NumCPU()
	}
	if h.Physical == 0 {
		h.Physical = h.Logical
	}
	if len(h.Features) == 0 && env.GOARCH == runtime.GOARCH && env.Root == "" {
		h.Features = goCPUFeatures()
	}
	sort.Strings(h.Features)
	return h
}

// goCPUFeatures asks the Go runtime's detection, used where the OS gives no
// better list.
func goCPUFeatures() []string {
	var f []string
	add := func(ok bool, name string) {
		if ok {
			f = append(f, name)
		}
	}
	switch runtime.GOARCH {
	case "amd64":
		add(cpu.X86.HasAVX, "avx")
		add(cpu.X86.HasAVX2, "avx2")
		add(cpu.X86.HasFMA, "fma")
		add(cpu.X86.HasAVX512F, "avx512f")
		add(cpu.X86.HasAVX512BW, "avx512bw")
		add(cpu.X86.HasAVX512VNNI, "avx512_vnni")
		add(cpu.X86.HasAVX512BF16, "avx512_bf16")
	case "arm64":
		add(cpu.ARM64.HasASIMD, "neon")
		add(cpu.ARM64.HasASIMDDP, "dotprod")
		add(cpu.ARM64.HasFPHP, "fp16")
		add(cpu.ARM64.HasSVE, "sve")
		add(cpu.ARM64.HasI8MM, "i8mm")
	}
	return f
}

// interesting maps /proc/cpuinfo flag names to the names doctor reports.
var interesting = map[string]string{
	"avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c",
	"avx512f": "avx512f", "avx512bw": "avx512bw", "avx512vl": "avx512vl",
	"avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni", "avx512_bf16": "avx512_bf16",
	"amx_int8": "amx_int8", "amx_bf16": "amx_bf16",
	"asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "sve": "sve", "sve2": "sve2",
	"fphp": "fp16", "asimdhp": "fp16", "sme": "sme", "bf16": "bf16",
}

func probeLinux(env *Env, h *Host) {
	if s, ok := env.readFile("/etc/os-release"); ok {
		h.OSVersion = osRelease(s)
	}
	if s, ok := env.readFile("/proc/sys/kernel/osrelease"); ok {
		h.Kernel = trimSpace(s)
	}
	if s, ok := env.readFile("/proc/cpuinfo"); ok {
		parseCPUInfo(s, h)
	}
	if s, ok := env.readFile("/proc/meminfo"); ok {
		h.MemTotal = meminfo(s, "MemTotal")
		h.MemAvailable = meminfo(s, "MemAvailable")
	}
	// cgroup v2, then v1.
	if s, ok := env.readFile("/sys/fs/cgroup/memory.max"); ok {
		if v, err := strconv.ParseUint(trimSpace(s), 10, 64); err == nil {
			h.CgroupMemLimit = v
		}
	} else if s, ok := env.readFile("/sys/fs/cgroup/memory/memory.limit_in_bytes"); ok {
		if v, err := strconv.ParseUint(trimSpace(s), 10, 64); err == nil && v < 1<<60 {
			h.CgroupMemLimit = v
		}
	}
	if s, ok := env.readFile("/sys/fs/cgroup/cpu.max"); ok {
		f := strings.Fields(s)
		if len(f) == 2 && f[0] != "max" {
			q, e1 := strconv.ParseFloat(f[0], 64)
			p, e2 := strconv.ParseFloat(f[1], 64)
			if e1 == nil && e2 == nil && p > 0 {
				h.CgroupCPULimit = q / p
			}
		}
	}
	if s, ok := env.readFile("/proc/driver/nvidia/version"); ok {
		h.GPUs = append(h.GPUs, "NVIDIA ("+firstLine(s)+")")
	}
	if _, ok := env.readFile("/dev/kfd"); ok {
		h.GPUs = append(h.GPUs, "AMD ROCm (/dev/kfd)")
	}
}

func osRelease(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "unknown"
}

func parseCPUInfo(s string, h *Host) {
	type core struct{ pkg, id string }
	cores := map[core]bool{}
	var pkg, id string
	flags := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			h.Logical++
		case "model name", "Model":
			if h.CPUModel == "unknown" && v != "" {
				h.CPUModel = v
			}
		case "CPU implementer":
			if h.CPUModel == "unknown" {
				h.CPUModel = "ARM implementer " + v
			}
		case "physical id":
			pkg = v
		case "core id":
			id = v
			cores[core{pkg, id}] = true
		case "flags", "Features":
			for _, f := range strings.Fields(v) {
				if name, ok := interesting[f]; ok {
					flags[name] = true
				}
			}
		}
	}
	if len(cores) > 0 {
		h.Physical = len(cores)
	}
	for f := range flags {
		h.Features = append(h.Features, f)
	}
	if _, ok := flags["neon"]; ok || strings.Contains(s, "CPU implementer") {
		h.Arch = "arm64"
	} else if _, ok := flags["avx"]; ok || strings.Contains(s, "GenuineIntel") || strings.Contains(s, "AuthenticAMD") {
		h.Arch = "amd64"
	}
}

func meminfo(s, key string) uint64 {
	for _, line := range strings.Split(s, "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				v, err := strconv.ParseUint(f[0], 10, 64)
				if err == nil {
					if len(f) > 1 && strings.EqualFold(f[1], "kB") {
						v *= 1024
					}
					return v
				}
			}
		}
	}
	return 0
}

func probeDarwin(env *Env, h *Host) {
	if v, ok := env.sysctl("kern.osproductversion"); ok {
		h.OSVersion = "macOS " + v
	}
	if v, ok := env.sysctl("kern.osrelease"); ok {
		h.Kernel = "Darwin " + v
	}
	if v, ok := env.sysctl("machdep.cpu.brand_string"); ok {
		h.CPUModel = v
		if strings.HasPrefix(v, "Apple ") {
			h.AppleChip = v
		}
	}
	if v, ok := env.sysctl("hw.logicalcpu"); ok {
		h.Logical, _ = strconv.Atoi(v)
	}
	if v, ok := env.sysctl("hw.physicalcpu"); ok {
		h.Physical, _ = strconv.Atoi(v)
	}
	if v, ok := env.sysctl("hw.perflevel0.physicalcpu"); ok {
		h.PCores, _ = strconv.Atoi(v)
	}
	if v, ok := env.sysctl("hw.perflevel1.physicalcpu"); ok {
		h.ECores, _ = strconv.Atoi(v)
	}
	if v, ok := env.sysctl("hw.memsize"); ok {
		h.MemTotal, _ = strconv.ParseUint(v, 10, 64)
	}
	// Free + inactive pages approximate what can be had without swapping.
	if ps, ok := env.sysctl("hw.pagesize"); ok {
		page, _ := strconv.ParseUint(ps, 10, 64)
		free, _ := env.sysctl("vm.page_free_count")
		inactive, _ := env.sysctl("vm.page_inactive_count") // may be absent
		f, _ := strconv.ParseUint(free, 10, 64)
		in, _ := strconv.ParseUint(inactive, 10, 64)
		if page > 0 && f > 0 {
			h.MemAvailable = (f + in) * page
		}
	}
	// hw.optional.arm64 is 1 on Apple Silicon even when this process is
	// translated by Rosetta, which is exactly the case to detect.
	if v, ok := env.sysctl("hw.optional.arm64"); ok && v == "1" {
		h.Arch = "arm64"
		h.UnifiedMemory = true
	} else if h.AppleChip != "" {
		h.Arch = "arm64"
		h.UnifiedMemory = true
	} else {
		h.Arch = "amd64"
	}
	if v, ok := env.sysctl("sysctl.proc_translated"); ok && v == "1" {
		h.Rosetta = true
	}
	if h.UnifiedMemory {
		// 0 means macOS's default: about two thirds of RAM up to 36 GB,
		// three quarters above.
		limit := uint64(0)
		if v, ok := env.sysctl("iogpu.wired_limit_mb"); ok {
			mb, _ := strconv.ParseUint(v, 10, 64)
			limit = mb << 20
		}
		if limit == 0 && h.MemTotal > 0 {
			if h.MemTotal <= 36<<30 {
				limit = h.MemTotal * 2 / 3
			} else {
				limit = h.MemTotal * 3 / 4
			}
		}
		h.GPUWiredLimit = limit
		h.Metal = true
	}
	if _, ok := env.readFile("/System/Library/Frameworks/Metal.framework/Metal"); ok {
		h.Metal = true
	} else if st, ok := env.readFile("/System/Library/Frameworks/Metal.framework/Versions/A/Metal"); ok && st != "" {
		h.Metal = true
	}
	for _, kv := range [][2]string{
		{"hw.optional.AdvSIMD", "neon"}, {"hw.optional.arm.FEAT_DotProd", "dotprod"},
		{"hw.optional.arm.FEAT_I8MM", "i8mm"}, {"hw.optional.arm.FEAT_SME", "sme"},
		{"hw.optional.arm.FEAT_BF16", "bf16"}, {"hw.optional.arm.FEAT_FP16", "fp16"},
		{"hw.optional.avx2_0", "avx2"}, {"hw.optional.avx512f", "avx512f"},
	} {
		if v, ok := env.sysctl(kv[0]); ok && v == "1" {
			h.Features = append(h.Features, kv[1])
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}
