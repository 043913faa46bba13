// Package doctor answers "will models run well here?": it describes the host
// (CPU, SIMD features, memory, containers, Apple Silicon specifics such as
// Rosetta translation and the GPU wired-memory limit), finds other local LLM
// runtimes and the architecture of their binaries, and turns that into a
// fit verdict and concrete recommendations.
//
// Every probe reads files, runs `sysctl` or makes a loopback HTTP call with a
// timeout; a probe that cannot answer reports "unknown" rather than failing,
// so doctor always produces a report.
package doctor

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// Env is everything the probes touch, so tests can substitute a fake
// machine: a filesystem root for /proc and /sys, a sysctl, a PATH, HTTP.
type Env struct {
	GOOS   string
	GOARCH string
	// Root is prefixed to absolute paths such as /proc/cpuinfo ("" = real).
	Root string
	// Sysctl returns the value of a macOS sysctl key.
	Sysctl func(ctx context.Context, key string) (string, error)
	// Run runs a command and returns its combined output (version probes).
	Run func(ctx context.Context, name string, args ...string) (string, error)
	// LookPath finds an executable on PATH.
	LookPath func(name string) (string, error)
	// Getenv reads an environment variable.
	Getenv func(string) string
	// Home is the user's home directory.
	Home string
	// HTTP is used to ask local servers for their version.
	HTTP *http.Client
	// Timeout bounds each probe.
	Timeout time.Duration
}

// RealEnv describes the machine ferry is running on.
func RealEnv() *Env {
	home, _ := os.UserHomeDir()
	return &Env{
		GOOS:   runtime.GOOS,
		GOARCH: runtime.GOARCH,
		Sysctl: func(ctx context.Context, key string) (string, error) {
			out, err := exec.CommandContext(ctx, "sysctl", "-n", key).Output()
			return trimSpace(string(out)), err
		},
		Run: func(ctx context.Context, name string, args ...string) (string, error) {
			out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
			return string(out), err
		},
		LookPath: exec.LookPath,
		Getenv:   os.Getenv,
		Home:     home,
		HTTP:     &http.Client{Timeout: 2 * time.Second},
		Timeout:  3 * time.Second,
	}
}

func (e *Env) path(p string) string {
	if e.Root == "" {
		return p
	}
	return filepath.Join(e.Root, p)
}

func (e *Env) readFile(p string) (string, bool) {
	b, err := os.ReadFile(e.path(p))
	if err != nil {
		return "", false
	}
	return string(b), true
}

func (e *Env) sysctl(key string) (string, bool) {
	if e.Sysctl == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.timeout())
	defer cancel()
	v, err := e.Sysctl(ctx, key)
	if err != nil || v == "" {
		return "", false
	}
	return v, true
}

func (e *Env) timeout() time.Duration {
	if e.Timeout <= 0 {
		return 3 * time.Second
	}
	return e.Timeout
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ' || s[len(s)-1] == '\r' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n') {
		s = s[1:]
	}
	return s
}
