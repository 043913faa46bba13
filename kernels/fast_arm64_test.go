//go:build !purego

package kernels

import (
	"testing"

	"golang.org/x/sys/cpu"

	"github.com/ferryhq/ferry/quant"
)

// TestNEONCoverage: on arm64 every weight type has a NEON matvec (float
// types always, quantized types with the dot-product extension), so a kernel
// dropped from installFast shows up here rather than as a silent slowdown;
// TestFastPathsMatchReference checks each one against the reference.
func TestNEONCoverage(t *testing.T) {
	for _, typ := range sortedTypes() {
		want := "neon-dotprod"
		switch typ {
		case quant.F32, quant.F16, quant.BF16:
			want = "neon"
		default:
			if !cpu.ARM64.HasASIMDDP {
				t.Logf("%v: no dot-product extension, portable code", typ)
				continue
			}
		}
		if got := fastPaths[typ]; got != want {
			t.Errorf("%v: fast path %q, want %q", typ, got, want)
		}
	}
}
