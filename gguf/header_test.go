package gguf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/quant"
)

// TestReadHeaderMatchesOpen: for every GGUF in the test data, reading only
// the header gives what mapping the whole file gives.
func TestReadHeaderMatchesOpen(t *testing.T) {
	root := testdata.Dir(t)
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".gguf") {
			return nil
		}
		n++
		a, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := ReadHeader(p)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.KV, b.KV) || !reflect.DeepEqual(a.Tensors, b.Tensors) || a.DataOffset != b.DataOffset ||
			a.Alignment != b.Alignment || a.Size != b.Size || a.Version != b.Version {
			t.Errorf("%s: ReadHeader differs from Open", p)
		}
		if len(b.Tensors) > 0 && b.TensorData(&b.Tensors[0]) != nil {
			t.Errorf("%s: header-only File returned tensor data", p)
		}
		return nil
	})
	if n < 6 {
		t.Fatalf("%d GGUF files", n)
	}
}

// TestPrefixParse: parsing any prefix of a valid file, told the full size,
// either succeeds with the same result or asks for more bytes.
func TestPrefixParse(t *testing.T) {
	full := small(t)
	want, err := Parse("x", full)
	if err != nil {
		t.Fatal(err)
	}
	for k := 4; k <= len(full); k++ {
		got, err := parse("x", full[:k], uint64(len(full)))
		if errors.Is(err, errNeedMore) {
			continue
		}
		if err != nil {
			t.Fatalf("prefix %d: %v", k, err)
		}
		if !reflect.DeepEqual(got.KV, want.KV) || !reflect.DeepEqual(got.Tensors, want.Tensors) {
			t.Fatalf("prefix %d: different result", k)
		}
	}
}

// TestReadHeaderLargeSparse: a 3 GiB file (sparse: a header claiming a big
// tensor, then a hole) is read in the time of a small one.
func TestReadHeaderLargeSparse(t *testing.T) {
	const big = 3 << 30
	hdr := new(hb).head(1, 0).tensor("big", quant.F32, 0, 1<<28, 3).data(0)
	p := filepath.Join(t.TempDir(), "big.gguf")
	if err := os.WriteFile(p, hdr, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, int64(len(hdr))+big); err != nil {
		t.Skipf("cannot make a sparse file here: %v", err)
	}
	start := time.Now()
	f, err := ReadHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != uint64(len(hdr))+big || f.Tensors[0].Size != big {
		t.Fatalf("size %d, tensor %d", f.Size, f.Tensors[0].Size)
	}
	t.Logf("read the header of a %d-byte file in %v", f.Size, time.Since(start))
	// Cut by one byte, the same file is truncated.
	os.Truncate(p, int64(len(hdr))+big-1)
	if _, err := ReadHeader(p); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("err = %v", err)
	}
}

// TestReadHeaderHugeString: a string claiming most of a large file is
// refused without reading it all.
func TestReadHeaderHugeString(t *testing.T) {
	hdr := new(hb).head(0, 1).u64(3 << 30).Bytes()
	p := filepath.Join(t.TempDir(), "str.gguf")
	os.WriteFile(p, hdr, 0o644)
	if err := os.Truncate(p, 4<<30); err != nil {
		t.Skip(err)
	}
	if _, err := ReadHeader(p); err == nil || !strings.Contains(err.Error(), "header larger than") {
		t.Fatalf("err = %v", err)
	}
}
