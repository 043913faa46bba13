package model

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ferryhq/ferry/pytorch"
	"github.com/ferryhq/ferry/safetensors"
)

func init() {
	register(FormatPyTorch, isHFPyTorchDir, openHFPyTorch)
}

// PyTorchIndexFile lists the shards of a sharded pytorch_model.bin.
const PyTorchIndexFile = "pytorch_model.bin.index.json"

// PyTorchWeights returns the PyTorch weight files of a Hugging Face folder:
// the shards named by pytorch_model.bin.index.json, or pytorch_model.bin.
// It returns nil when there are none.
func PyTorchWeights(dir string) ([]string, error) {
	idx := filepath.Join(dir, PyTorchIndexFile)
	if b, err := os.ReadFile(idx); err == nil {
		var v struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &v); err != nil || len(v.WeightMap) == 0 {
			return nil, fmt.Errorf("%s: no usable weight_map (%v)", idx, err)
		}
		seen := map[string]bool{}
		var files []string
		for t, shard := range v.WeightMap {
			if shard == "" || filepath.Base(shard) != shard || shard == "." || shard == ".." {
				return nil, fmt.Errorf("%s: tensor %q: shard %q is not a file name in the folder", idx, t, shard)
			}
			if !seen[shard] {
				seen[shard] = true
				files = append(files, filepath.Join(dir, shard))
			}
		}
		sort.Strings(files)
		for _, f := range files {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("%s: shard listed in %s is missing: %w", dir, PyTorchIndexFile, err)
			}
		}
		return files, nil
	}
	p := filepath.Join(dir, "pytorch_model.bin")
	if _, err := os.Stat(p); err == nil {
		return []string{p}, nil
	}
	return nil, nil
}

// isHFPyTorchDir: config.json and PyTorch weights, no safetensors (which
// the safetensors loader prefers, as transformers does).
func isHFPyTorchDir(path string) bool {
	if !isConfigDir(path) || safetensors.HasWeights(path) {
		return false
	}
	files, _ := PyTorchWeights(path)
	return len(files) > 0
}

// openHFPyTorch loads a Hugging Face folder whose weights are PyTorch
// checkpoints: the tensors are read through package pytorch (contiguous
// ones in place; strided views are gathered into a copy) and handed to the
// same mapping as safetensors folders.
func openHFPyTorch(dir string) (*Model, error) {
	return openHFFolder(dir, FormatPyTorch, false, func(m *Model, _ hfConfig) ([]srcTensor, error) {
		return pytorchSources(m, dir)
	})
}

// pytorchSources opens dir's checkpoints (closed with m) and lists their
// tensors by name.
func pytorchSources(m *Model, dir string) ([]srcTensor, error) {
	files, err := PyTorchWeights(dir)
	if err != nil {
		return nil, err
	}
	var src []srcTensor
	seen := map[string]string{}
	for _, path := range files {
		f, err := pytorch.Open(path)
		if err != nil {
			return nil, err
		}
		m.OnClose(f.Close)
		for _, t := range f.Tensors {
			if prev, dup := seen[t.Name]; dup {
				return nil, fmt.Errorf("%s: tensor %q is in both %s and %s", dir, t.Name, filepath.Base(prev), filepath.Base(path))
			}
			seen[t.Name] = path
			typ, ok := stDTypes[safetensors.DType(t.DType)]
			if !ok {
				return nil, fmt.Errorf("%s: tensor %q: dtype %s is not supported", path, t.Name, t.DType)
			}
			data, err := f.Data(t)
			if err != nil {
				data = gatherStrided(f.StorageBytes(t), t)
			}
			shape := make([]uint64, len(t.Shape))
			for i, d := range t.Shape {
				shape[i] = uint64(d)
			}
			src = append(src, srcTensor{Name: t.Name, Type: typ, Shape: shape, Data: data})
		}
	}
	sort.Slice(src, func(i, j int) bool { return src[i].Name < src[j].Name })
	return src, nil
}

// gatherStrided copies a strided view into a new row-major buffer.
func gatherStrided(storage []byte, t *pytorch.Tensor) []byte {
	es := int64(t.DType.Size())
	n := t.Elements()
	out := make([]byte, n*es)
	idx := make([]int64, len(t.Shape))
	for k := int64(0); k < n; k++ {
		off := t.StorageOffset
		for d := range idx {
			off += idx[d] * t.Stride[d]
		}
		copy(out[k*es:(k+1)*es], storage[off*es:(off+1)*es])
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}
