// Package synthetic builds random-weight models with the exact tensor shapes
// of popular models ("synthetic:llama3.2-1b:q4_0"), so ferry can answer "how
// fast would this model run here?" without a download. Models are generated
// deterministically as GGUF files and cached on disk.
package synthetic
