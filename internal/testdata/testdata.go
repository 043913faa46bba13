// Package testdata locates the shared, read-only test data (real models and
// reference outputs) that ferry's tests compare against.
//
// The data is found through FERRY_TESTDATA or, by default, ../shared/testdata
// relative to the module root. When it is absent a test is skipped with a
// clear message, unless CI is set, in which case the test fails: CI must never
// pass by skipping the checks that matter.
package testdata

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared test data directory, skipping (or, under CI,
// failing) the test when it cannot be found.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, ok := Find()
	if !ok {
		msg := "shared test data not found: set FERRY_TESTDATA or place it at ../shared/testdata next to the repository"
		if os.Getenv("CI") != "" {
			tb.Fatal(msg + " (CI is set, so this is a failure)")
		}
		tb.Skip(msg)
	}
	return dir
}

// Path joins elem onto the test data directory and skips (or fails under CI)
// when that particular file or folder is missing.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("shared test data missing: %v", err)
		}
		tb.Skipf("shared test data missing: %v", err)
	}
	return p
}

// Find reports the test data directory without involving a test, for
// benchmarks and tools.
func Find() (string, bool) {
	if d := os.Getenv("FERRY_TESTDATA"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, true
		}
		return "", false
	}
	root := moduleRoot()
	if root == "" {
		return "", false
	}
	d := filepath.Join(root, "..", "shared", "testdata")
	if st, err := os.Stat(d); err == nil && st.IsDir() {
		return d, true
	}
	return "", false
}

// moduleRoot walks up from the working directory (a package directory when
// run under go test) to the directory holding go.mod.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
