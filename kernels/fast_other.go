//go:build purego || !(amd64 || arm64)

package kernels

import "github.com/ferryhq/ferry/quant"

var fastPaths = map[quant.Type]string{}

func installFast() {}

func loadSum(b []byte) uint64 { return loadSumGo(b) }
