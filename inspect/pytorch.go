package inspect

import (
	"path/filepath"

	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/pytorch"
)

func hasPyTorch(dir string) bool {
	files, err := model.PyTorchWeights(dir)
	return err == nil && len(files) > 0
}

// addPyTorch fills tensors, parameters and the type histogram from the
// pickled tensor tables (storages are not read).
func addPyTorch(r *Report, files []*pytorch.File) {
	hist := typeHist{}
	seen := map[string]bool{} // storages shared by several tensors count once
	for _, f := range files {
		base := filepath.Base(f.Path)
		for _, t := range f.Tensors {
			shape := make([]uint64, len(t.Shape))
			for i, d := range t.Shape {
				shape[i] = uint64(d)
			}
			n := uint64(t.Elements())
			bytes := n * uint64(t.DType.Size())
			r.Tensors = append(r.Tensors, TensorRow{Name: t.Name, Type: string(t.DType), Shape: shape,
				Offset: uint64(t.StorageOffset * int64(t.DType.Size())), Bytes: bytes, File: base})
			key := base + "/" + t.StorageKey
			if seen[key] {
				r.Notes = appendOnce(r.Notes, "some tensors share storage (tied weights or views); each is counted")
			}
			seen[key] = true
			r.Parameters += n
			hist.add(string(t.DType), n, bytes)
		}
	}
	r.TensorCount = len(r.Tensors)
	r.Types = hist.list()
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func inspectPyTorch(path string) (*Report, error) {
	f, err := pytorch.ReadHeader(path)
	if err != nil {
		return nil, err
	}
	r := &Report{Path: path, Format: "pytorch", FileSize: fileSize(path)}
	addPyTorch(r, []*pytorch.File{f})
	r.Notes = append(r.Notes, "a bare checkpoint has no config.json: architecture and sizes are unknown")
	r.Next = "next: put it in a folder with its config.json and tokenizer, then ferry convert FOLDER --to gguf"
	return r, nil
}

// inspectHFPyTorch reports a Hugging Face folder whose weights are
// pytorch_model.bin files.
func inspectHFPyTorch(dir string) (*Report, error) {
	cfg, err := readConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	paths, err := model.PyTorchWeights(dir)
	if err != nil {
		return nil, err
	}
	r := &Report{Path: dir, Format: "pytorch"}
	var files []*pytorch.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, p := range paths {
		f, err := pytorch.ReadHeader(p)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
		r.Files = append(r.Files, filepath.Base(p))
		r.FileSize += fileSize(p)
	}
	addPyTorch(r, files)
	addHFFolder(r, dir, cfg)
	return r, nil
}
