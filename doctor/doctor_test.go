package doctor

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/cpu"
)

// machoThin returns a minimal 64-bit Mach-O executable header for cpu type.
func machoThin(cputype uint32) []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint32(b[0:], 0xfeedfacf)
	binary.LittleEndian.PutUint32(b[4:], cputype)
	binary.LittleEndian.PutUint32(b[12:], 2) // MH_EXECUTE
	return b
}

const (
	cpuArm64 = 0x0100000c
	cpuAmd64 = 0x01000007
)

// machoFat wraps thin images in a universal binary (big-endian fat header).
func machoFat(cputypes ...uint32) []byte {
	const align = 4096
	out := make([]byte, align*(len(cputypes)+1))
	binary.BigEndian.PutUint32(out[0:], 0xcafebabe)
	binary.BigEndian.PutUint32(out[4:], uint32(len(cputypes)))
	for i, c := range cputypes {
		off := align * (i + 1)
		thin := machoThin(c)
		copy(out[off:], thin)
		h := out[8+20*i:]
		binary.BigEndian.PutUint32(h[0:], c)
		binary.BigEndian.PutUint32(h[8:], uint32(off))
		binary.BigEndian.PutUint32(h[12:], uint32(len(thin)))
		binary.BigEndian.PutUint32(h[16:], 12)
	}
	return out
}

func elfHeader(machine uint16) []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1
	binary.LittleEndian.PutUint16(b[16:], 2)
	binary.LittleEndian.PutUint16(b[18:], machine)
	binary.LittleEndian.PutUint32(b[20:], 1)
	binary.LittleEndian.PutUint16(b[52:], 64)
	binary.LittleEndian.PutUint16(b[54:], 56)
	binary.LittleEndian.PutUint16(b[58:], 64)
	return b
}

func peHeader(machine uint16) []byte {
	b := make([]byte, 512) // debug/pe reads a 96-byte DOS header
	b[0], b[1] = 'M', 'Z'
	binary.LittleEndian.PutUint32(b[0x3c:], 0x40)
	copy(b[0x40:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x44:], machine)
	return b
}

func writeExe(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadBinaryInfo(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		data   []byte
		format string
		arches string
	}{
		{"thin-arm64", machoThin(cpuArm64), "mach-o", "arm64"},
		{"thin-amd64", machoThin(cpuAmd64), "mach-o", "amd64"},
		{"fat", machoFat(cpuAmd64, cpuArm64), "mach-o universal", "amd64,arm64"},
		{"elf-arm64", elfHeader(183), "elf", "arm64"},
		{"elf-amd64", elfHeader(62), "elf", "amd64"},
		{"pe-amd64", peHeader(0x8664), "pe", "amd64"},
		{"pe-arm64", peHeader(0xaa64), "pe", "arm64"},
	}
	for _, c := range cases {
		p := writeExe(t, dir, c.name, c.data)
		bi, err := ReadBinaryInfo(p)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if bi.Format != c.format || strings.Join(bi.Arches, ",") != c.arches {
			t.Errorf("%s: got %s %v, want %s %s", c.name, bi.Format, bi.Arches, c.format, c.arches)
		}
	}
	for _, bad := range [][]byte{nil, []byte("#!/bin/sh\necho hi\n"), []byte("\x7fELF\x02")} {
		p := writeExe(t, dir, "bad", bad)
		if _, err := ReadBinaryInfo(p); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
	// The test binary itself is a real executable of this machine.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bi, err := ReadBinaryInfo(self)
	if err != nil {
		t.Fatal(err)
	}
	if !bi.RunsNatively(runtime.GOARCH) {
		t.Errorf("test binary %v does not run natively on %s", bi.Arches, runtime.GOARCH)
	}
}

// fakeRoot lays out /proc and /sys files for a Linux host.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, s := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestProbeLinuxFake(t *testing.T) {
	cpuinfo := ""
	for i := 0; i < 4; i++ {
		cpuinfo += "processor\t: " + string(rune('0'+i)) + "\nmodel name\t: Test CPU 9000\nphysical id\t: 0\ncore id\t\t: " + string(rune('0'+i/2)) + "\nflags\t\t: fpu sse avx avx2 fma avx512f avx512_vnni\n\n"
	}
	root := fakeRoot(t, map[string]string{
		"/proc/cpuinfo":              cpuinfo,
		"/proc/meminfo":              "MemTotal:       16384000 kB\nMemFree: 1 kB\nMemAvailable:    8192000 kB\n",
		"/etc/os-release":            "NAME=x\nPRETTY_NAME=\"Test Linux 1\"\n",
		"/proc/sys/kernel/osrelease": "6.1.0-test\n",
		"/sys/fs/cgroup/memory.max":  "4294967296\n",
		"/sys/fs/cgroup/cpu.max":     "200000 100000\n",
	})
	h := ProbeHost(&Env{GOOS: "linux", GOARCH: "amd64", Root: root})
	if h.CPUModel != "Test CPU 9000" || h.Logical != 4 || h.Physical != 2 {
		t.Errorf("cpu: %+v", h)
	}
	if h.MemTotal != 16384000*1024 || h.MemAvailable != 8192000*1024 {
		t.Errorf("memory: %d %d", h.MemTotal, h.MemAvailable)
	}
	if h.CgroupMemLimit != 4<<30 || h.CgroupCPULimit != 2 {
		t.Errorf("cgroup: %d %v", h.CgroupMemLimit, h.CgroupCPULimit)
	}
	if strings.Join(h.Features, " ") != "avx avx2 avx512_vnni avx512f fma" {
		t.Errorf("features: %v", h.Features)
	}
	if h.OSVersion != "Test Linux 1" || h.Kernel != "6.1.0-test" {
		t.Errorf("os: %q %q", h.OSVersion, h.Kernel)
	}
	if Budget(h) != 4<<30-(2<<30) {
		t.Errorf("budget under a 4 GiB cgroup = %d", Budget(h))
	}
}

func fakeSysctl(vals map[string]string) func(context.Context, string) (string, error) {
	return func(_ context.Context, k string) (string, error) {
		if v, ok := vals[k]; ok {
			return v, nil
		}
		return "", errors.New("unknown oid")
	}
}

func TestProbeDarwinRosetta(t *testing.T) {
	vals := map[string]string{
		"kern.osproductversion":     "15.1",
		"kern.osrelease":            "24.1.0",
		"machdep.cpu.brand_string":  "Apple M4 Pro",
		"hw.logicalcpu":             "14",
		"hw.physicalcpu":            "14",
		"hw.perflevel0.physicalcpu": "10",
		"hw.perflevel1.physicalcpu": "4",
		"hw.memsize":                "68719476736",
		"hw.optional.arm64":         "1",
		"sysctl.proc_translated":    "1",
		"iogpu.wired_limit_mb":      "0",
		"hw.optional.arm.FEAT_I8MM": "1",
		"hw.optional.AdvSIMD":       "1",
	}
	env := &Env{GOOS: "darwin", GOARCH: "amd64", Sysctl: fakeSysctl(vals)}
	h := ProbeHost(env)
	if !h.Rosetta || h.Arch != "arm64" || !h.UnifiedMemory || h.AppleChip != "Apple M4 Pro" {
		t.Fatalf("host: %+v", h)
	}
	if h.PCores != 10 || h.ECores != 4 || h.MemTotal != 64<<30 {
		t.Fatalf("cores/memory: %+v", h)
	}
	if h.GPUWiredLimit != 48<<30 { // 3/4 of 64 GiB by macOS's default
		t.Errorf("wired limit = %d", h.GPUWiredLimit)
	}
	r := Report{Host: h, BudgetBytes: Budget(h)}
	rec := Recommend(&r)
	if len(rec) == 0 || !strings.Contains(rec[0], "Rosetta") {
		t.Fatalf("first recommendation should warn about Rosetta: %q", rec)
	}
	vals["iogpu.wired_limit_mb"] = "57344"
	vals["sysctl.proc_translated"] = "0"
	h = ProbeHost(&Env{GOOS: "darwin", GOARCH: "arm64", Sysctl: fakeSysctl(vals)})
	if h.Rosetta || h.GPUWiredLimit != 56<<30 {
		t.Fatalf("native host: %+v", h)
	}
}

func TestFindRuntimes(t *testing.T) {
	dir := t.TempDir()
	bins := map[string][]byte{
		"ollama":       machoFat(cpuAmd64, cpuArm64),
		"llama-server": machoThin(cpuAmd64),
	}
	for n, b := range bins {
		writeExe(t, dir, n, b)
	}
	writeExe(t, dir, "libggml-metal.dylib", []byte("x"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/version" {
			w.Write([]byte(`{"version":"0.12.3"}`))
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	env := &Env{
		GOOS: "darwin", GOARCH: "arm64",
		LookPath: func(n string) (string, error) {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			return "", errors.New("not found")
		},
		Run: func(_ context.Context, name string, args ...string) (string, error) {
			switch filepath.Base(name) {
			case "ollama":
				return "ollama version is 0.12.3\n", nil
			case "llama-server":
				return "version: 6123 (abc1234)\nbuilt with clang\n", nil
			}
			return "", errors.New("no")
		},
		Getenv:  func(k string) string { map_ := map[string]string{"OLLAMA_HOST": srv.URL}; return map_[k] },
		HTTP:    srv.Client(),
		Timeout: 2 * time.Second,
	}
	rts := FindRuntimes(env, "arm64")
	got := map[string]Runtime{}
	for _, r := range rts {
		got[r.Name] = r
	}
	o, ok := got["ollama"]
	if !ok || !o.Native || o.Version != "0.12.3" || o.Server == nil || o.Server.Version != "0.12.3" {
		t.Fatalf("ollama: %+v (server %+v)", o, o.Server)
	}
	l, ok := got["llama-server"]
	if !ok || l.Native || l.Version != "6123" || !strings.Contains(l.Note, "metal") {
		t.Fatalf("llama-server: %+v", l)
	}
	r := Report{Host: Host{Arch: "arm64", GoArch: "arm64", Physical: 8}, Runtimes: rts}
	rec := strings.Join(Recommend(&r), "\n")
	if !strings.Contains(rec, "llama-server") || !strings.Contains(rec, "native arm64 build") {
		t.Fatalf("recommendations should flag the x86_64 llama-server:\n%s", rec)
	}
}

func TestJudge(t *testing.T) {
	models := []Model{
		{Name: "small", Bytes: 1 << 30, NeedBytes: 2 << 30},
		{Name: "big", Bytes: 16 << 30, NeedBytes: 18 << 30, Params: 8e9},
	}
	Judge(models, 10<<30, 8192)
	if !models[0].Fits || !strings.Contains(models[0].Fit, "8.0 GB to spare at ctx 8192") {
		t.Errorf("small: %+v", models[0])
	}
	if models[1].Fits || !strings.Contains(models[1].Fit, "Q4_K_M of this model would need") || !strings.Contains(models[1].Fit, "would fit") {
		t.Errorf("big: %+v", models[1])
	}
}

// TestRealHost runs the probes on this machine for real.
func TestRealHost(t *testing.T) {
	env := RealEnv()
	env.HTTP.Timeout = 500 * time.Millisecond
	r := Build(env, nil, 4096)
	h := r.Host
	if h.Logical <= 0 || h.Physical <= 0 || h.Physical > h.Logical {
		t.Fatalf("cores: %+v", h)
	}
	if runtime.GOOS == "linux" && (h.MemTotal == 0 || h.MemAvailable == 0 || h.MemAvailable > h.MemTotal) {
		t.Fatalf("memory: %+v", h)
	}
	if runtime.GOARCH == "amd64" && cpu.X86.HasAVX2 != hasFeature(h, "avx2") {
		t.Fatalf("avx2 reported %v, CPU says %v", hasFeature(h, "avx2"), cpu.X86.HasAVX2)
	}
	if !strings.Contains(r.Text(), "Recommendations") {
		t.Fatal("text report incomplete")
	}
}
