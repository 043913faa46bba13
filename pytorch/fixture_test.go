package pytorch

import (
	"archive/zip"
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	pt "github.com/ferryhq/ferry/pytorch/pytorchtest"
)

// The fixtures in testdata/ are written by package pytorchtest, which
// pickles by hand what torch.save writes. Regenerate them with
//
//	go test ./pytorch -run TestFixtures -update
var update = flag.Bool("update", false, "rewrite the fixture files in testdata/")

// fixtureStorages and fixtureTensors describe the fixtures: storages of
// four dtypes, a plain matrix, a transposed view and an offset view of the
// same storage, an nn.Parameter and a tensor of another dtype.
func fixtureStorages() []pt.Storage {
	return []pt.Storage{
		{Key: "0", Class: "FloatStorage", ElemSize: 4, Data: pt.Values("F32", 12)},
		{Key: "1", Class: "HalfStorage", ElemSize: 2, Data: pt.Values("F16", 4)},
		{Key: "2", Class: "BFloat16Storage", ElemSize: 2, Data: pt.Values("BF16", 4)},
		{Key: "3", Class: "LongStorage", ElemSize: 8, Data: pt.Values("I64", 3)},
	}
}

var storageDTypes = map[string]DType{"0": F32, "1": F16, "2": BF16, "3": I64}

func fixtureTensors() []pt.View {
	return []pt.View{
		{Name: "layers.0.weight", Storage: "0", Shape: []int64{2, 3}, Stride: []int64{3, 1}},
		{Name: "layers.0.weight_t", Storage: "0", Shape: []int64{3, 2}, Stride: []int64{1, 3}},
		{Name: "layers.0.tail", Storage: "0", Offset: 6, Shape: []int64{6}, Stride: []int64{1}},
		{Name: "norm.weight", Storage: "1", Shape: []int64{4}, Stride: []int64{1}, Parameter: true},
		{Name: "embed.weight", Storage: "2", Shape: []int64{2, 2}, Stride: []int64{2, 1}},
		{Name: "position_ids", Storage: "3", Shape: []int64{1, 3}, Stride: []int64{3, 1}},
	}
}

func TestFixtures(t *testing.T) {
	files := map[string][]byte{
		"state_dict.pt":  pt.Zip("state_dict", pt.Pickle(2, fixtureStorages(), fixtureTensors(), false), fixtureStorages(), zip.Store),
		"checkpoint.pth": pt.Zip("archive", pt.Pickle(4, fixtureStorages(), fixtureTensors(), true), fixtureStorages(), zip.Store),
	}
	for name, b := range files {
		path := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(old, b) {
			t.Errorf("%s differs from the generator's output; run with -update", path)
		}
	}
}
