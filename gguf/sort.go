package gguf

import "sort"

func sortByOffset(idx []int, ts []TensorInfo) {
	sort.Slice(idx, func(a, b int) bool { return ts[idx[a]].Offset < ts[idx[b]].Offset })
}
