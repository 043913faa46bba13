package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// IndexFile is the name of the shard index Hugging Face writes next to
// sharded checkpoints.
const IndexFile = "model.safetensors.index.json"

// maxIndexSize bounds the index JSON (real ones are well under 1 MB).
const maxIndexSize = 64 << 20

// Set is the tensors of a folder: one model.safetensors file, or the shards
// listed in model.safetensors.index.json, opened together.
type Set struct {
	Dir   string
	Files []*File
	// Metadata merges the __metadata__ of every file.
	Metadata map[string]string
	byName   map[string]setEntry
	names    []string
}

type setEntry struct {
	file *File
	info *TensorInfo
}

// Ref is one tensor of a Set with its bytes.
type Ref struct {
	*TensorInfo
	File *File
}

// Data returns the tensor's bytes (aliasing the file mapping).
func (r Ref) Data() []byte { return r.File.Data(r.TensorInfo) }

// HasWeights reports whether dir holds safetensors weights (an index or at
// least one .safetensors file).
func HasWeights(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, IndexFile)); err == nil {
		return true
	}
	m, _ := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	return len(m) > 0
}

// OpenDir opens the safetensors weights of a folder. With an index file the
// shards it names are opened and every tensor it lists must be found in the
// shard it names; without one, model.safetensors, else every
// model*.safetensors, else every *.safetensors file in the folder is opened. A tensor name found in two files is an
// error.
func OpenDir(dir string) (*Set, error) {
	s := &Set{Dir: dir, Metadata: map[string]string{}, byName: map[string]setEntry{}}
	var files []string
	var weightMap map[string]string
	idxPath := filepath.Join(dir, IndexFile)
	if b, err := readLimited(idxPath, maxIndexSize); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("%s: %v", idxPath, err)
		}
		if len(idx.WeightMap) == 0 {
			return nil, fmt.Errorf("%s: no weight_map", idxPath)
		}
		weightMap = idx.WeightMap
		seen := map[string]bool{}
		for tensor, shard := range weightMap {
			if shard == "" || filepath.Base(shard) != shard || shard == "." || shard == ".." {
				return nil, fmt.Errorf("%s: tensor %q: shard name %q is not a file name in the folder", idxPath, tensor, shard)
			}
			if !seen[shard] {
				seen[shard] = true
				files = append(files, shard)
			}
		}
		sort.Strings(files)
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return nil, fmt.Errorf("%s: shard %s listed in %s is missing: %w", dir, f, IndexFile, err)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	} else if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err == nil {
		files = []string{"model.safetensors"}
	} else {
		// Like llama.cpp, prefer model*.safetensors: Mistral repositories
		// also ship consolidated.safetensors with the same weights.
		m, _ := filepath.Glob(filepath.Join(dir, "model*.safetensors"))
		if len(m) == 0 {
			m, _ = filepath.Glob(filepath.Join(dir, "*.safetensors"))
		}
		for _, p := range m {
			files = append(files, filepath.Base(p))
		}
		sort.Strings(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no .safetensors files", dir)
		}
	}
	for _, name := range files {
		f, err := Open(filepath.Join(dir, name))
		if err != nil {
			s.Close()
			return nil, err
		}
		s.Files = append(s.Files, f)
		for k, v := range f.Metadata {
			s.Metadata[k] = v
		}
		for i := range f.Tensors {
			t := &f.Tensors[i]
			if prev, dup := s.byName[t.Name]; dup {
				s.Close()
				return nil, fmt.Errorf("%s: tensor %q is in both %s and %s", dir, t.Name, filepath.Base(prev.file.Path), name)
			}
			if weightMap != nil {
				if want, ok := weightMap[t.Name]; ok && want != name {
					s.Close()
					return nil, fmt.Errorf("%s: tensor %q is in %s but %s says %s", dir, t.Name, name, IndexFile, want)
				}
			}
			s.byName[t.Name] = setEntry{f, t}
			s.names = append(s.names, t.Name)
		}
	}
	for tensor, shard := range weightMap {
		if _, ok := s.byName[tensor]; !ok {
			s.Close()
			return nil, fmt.Errorf("%s: tensor %q listed in %s is not in %s", dir, tensor, IndexFile, shard)
		}
	}
	sort.Strings(s.names)
	return s, nil
}

// Names lists the tensor names in sorted order.
func (s *Set) Names() []string { return s.names }

// Get returns the named tensor.
func (s *Set) Get(name string) (Ref, bool) {
	e, ok := s.byName[name]
	if !ok {
		return Ref{}, false
	}
	return Ref{TensorInfo: e.info, File: e.file}, true
}

// Close unmaps every file.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.Files {
		errs = append(errs, f.Close())
	}
	s.Files = nil
	return errors.Join(errs...)
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d-byte limit", path, st.Size(), limit)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// ReadJSON reads a small JSON file (config.json and friends) with a size
// limit, so a hostile file cannot make ferry allocate without bound.
func ReadJSON(path string, v any) error {
	b, err := readLimited(path, maxIndexSize)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %v", path, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}
