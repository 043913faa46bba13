package model

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/pytorch"
	pt "github.com/ferryhq/ferry/pytorch/pytorchtest"
	"github.com/ferryhq/ferry/safetensors"
)

// TestPyTorchFolderMatchesSafetensors rewrites oracle folders' safetensors
// as pytorch_model.bin (single and sharded with an index) and checks that
// the PyTorch folder loads to exactly the same model.
func TestPyTorchFolderMatchesSafetensors(t *testing.T) {
	for _, name := range []string{"llama2", "qwen2", "mixtral"} {
		for _, shards := range []int{1, 2} {
			src := testdata.Path(t, "oracle", name)
			dir := t.TempDir()
			entries, _ := os.ReadDir(src)
			for _, e := range entries {
				if filepath.Ext(e.Name()) == ".safetensors" || e.Name() == safetensors.IndexFile {
					continue
				}
				b, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
			}
			set, err := safetensors.OpenDir(src)
			if err != nil {
				t.Fatal(err)
			}
			parts := make([][]pt.Tensor, shards)
			weightMap := map[string]string{}
			for i, n := range set.Names() {
				ref, _ := set.Get(n)
				shape := make([]int64, len(ref.Shape))
				for j, d := range ref.Shape {
					shape[j] = int64(d)
				}
				parts[i%shards] = append(parts[i%shards], pt.Tensor{Name: n, DType: string(ref.DType), Shape: shape, Data: ref.Data()})
				weightMap[n] = shardName(i%shards, shards)
			}
			for s, p := range parts {
				os.WriteFile(filepath.Join(dir, shardName(s, shards)), pt.StateDict("archive", p), 0o644)
			}
			if shards > 1 {
				b, _ := json.Marshal(map[string]any{"weight_map": weightMap})
				os.WriteFile(filepath.Join(dir, PyTorchIndexFile), b, 0o644)
			}
			set.Close()

			want, err := Open(src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(dir)
			if err != nil {
				t.Fatalf("%s (%d shards): %v", name, shards, err)
			}
			if got.Format != FormatPyTorch || len(got.Tensors) != len(want.Tensors) || got.RopeNeoX != want.RopeNeoX {
				t.Fatalf("%s: format %s, %d tensors, want %d", name, got.Format, len(got.Tensors), len(want.Tensors))
			}
			for _, wt := range want.Tensors {
				gt := got.Tensor(wt.Name)
				if gt == nil || gt.Type != wt.Type || !reflect.DeepEqual(gt.Shape, wt.Shape) || !bytes.Equal(gt.Data, wt.Data) {
					t.Fatalf("%s: tensor %s differs", name, wt.Name)
				}
			}
			if len(got.KV) != len(want.KV) {
				t.Fatalf("%s: %d metadata keys, want %d", name, len(got.KV), len(want.KV))
			}
			for _, kv := range want.KV {
				if kv.Key == "general.name" {
					continue // derived from the folder's name
				}
				g, ok := got.Get(kv.Key)
				if !ok || !reflect.DeepEqual(g.Value, kv.Value) {
					t.Fatalf("%s: key %s differs", name, kv.Key)
				}
			}
			want.Close()
			got.Close()
		}
	}
}

func shardName(i, n int) string {
	if n == 1 {
		return "pytorch_model.bin"
	}
	return "pytorch_model-0000" + string(rune('1'+i)) + "-of-0000" + string(rune('0'+n)) + ".bin"
}

func TestGatherStrided(t *testing.T) {
	// A 2x3 matrix stored transposed (stride 1, 2) in a 6-element storage.
	storage := []byte{0, 1, 2, 3, 4, 5}
	got := gatherStrided(storage, &pytorch.Tensor{DType: pytorch.U8, Shape: []int64{2, 3}, Stride: []int64{1, 2}})
	if want := []byte{0, 2, 4, 1, 3, 5}; !bytes.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
