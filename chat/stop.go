package chat

import "strings"

// turnMarkers are the special strings chat formats use to end a turn or
// start the next one. A model that emits one has finished its answer, so
// each marker the template itself writes becomes a stop sequence.
var turnMarkers = []string{
	// ChatML (Qwen, Hermes, Yi, ...)
	"<|im_end|>", "<|im_start|>",
	// Llama 3
	"<|eot_id|>", "<|eom_id|>", "<|start_header_id|>",
	// Gemma
	"<end_of_turn>", "<start_of_turn>",
	// Gemma 4 style
	"<turn|>", "<|turn>",
	// Phi-3, Zephyr, TinyLlama, StableLM
	"<|end|>", "<|user|>", "<|system|>", "<|assistant|>",
	// Llama 2 / Mistral
	"[INST]", "[/INST]", "<<SYS>>", "<</SYS>>",
	// Command-R
	"<|END_OF_TURN_TOKEN|>", "<|START_OF_TURN_TOKEN|>",
	// OpenChat
	"<|end_of_turn|>",
	// Granite
	"<|end_of_text|>", "<|start_of_role|>",
	// DeepSeek
	"<｜end▁of▁sentence｜>", "<｜User｜>",
	// GPT-2 family / StarCoder / Falcon
	"<|endoftext|>",
	// End of sequence in SentencePiece vocabularies
	"</s>",
	// Magicoder / StarCoder2-instruct / Alpaca
	"@@ Instruction", "### Instruction",
}

// StopSequences derives stop strings for a chat template: the text of the
// vocabulary's end-of-generation tokens (vocabEOG, e.g. "<|eot_id|>",
// "<|im_end|>", "</s>") followed by every known turn marker that the
// template writes. The order is stable and duplicates are dropped.
func StopSequences(tmpl string, vocabEOG []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range vocabEOG {
		add(s)
	}
	for _, m := range turnMarkers {
		if strings.Contains(tmpl, m) {
			add(m)
		}
	}
	return out
}
