package grammar

import (
	"testing"
	"time"

	"github.com/ferryhq/ferry/internal/testdata"
	"github.com/ferryhq/ferry/model"
	"github.com/ferryhq/ferry/tokenizer"
)

// benchSchema and benchDoc: a typical structured-output request and a
// valid answer, tokenized by the real tokenizer.
const benchSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":150},"email":{"type":"string","maxLength":64},"tags":{"type":"array","items":{"type":"string"},"maxItems":8},"address":{"type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"},"zip":{"type":"string","minLength":5,"maxLength":10}},"required":["street","city","zip"]},"active":{"type":"boolean"},"score":{"type":"number"}},"required":["name","age","email","tags","address","active","score"],"additionalProperties":false}`

const benchDoc = `{"name": "Ada Lovelace, Countess of Lovelace", "age": 36, "email": "ada@analytical-engine.org", "tags": ["mathematics", "poetry of science", "first programmer"], "address": {"street": "12 St James's Square", "city": "London", "zip": "SW1Y 4JH"}, "active": true, "score": 98.25}`

func llama3Tokenizer(b *testing.B) *tokenizer.Tokenizer {
	kvs, err := tokenizer.HFMetadata(testdata.Path(b, "tokenizers", "llama3"))
	if err != nil {
		b.Fatal(err)
	}
	tok, err := tokenizer.FromKVs(kvs)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func llama2Tokenizer(b *testing.B) *tokenizer.Tokenizer {
	m, err := model.Open(testdata.Path(b, "models", "llama-2-tiny-random.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	tok, err := tokenizer.FromMetadata(&m.Metadata)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

// Cache modes of benchSteps.
const (
	fresh   = iota // a new grammar per generation: masks cached within it
	repeat         // the same grammar every time (a repeated schema)
	noCache        // every step walks the vocabulary
)

// benchSteps measures Mask+Accept per generated token over the document.
func benchSteps(b *testing.B, tok *tokenizer.Tokenizer, format, doc string, mode int) {
	v := VocabFromTokenizer(tok)
	ids, err := tok.Encode(doc, false, false)
	if err != nil {
		b.Fatal(err)
	}
	g, err := Compile([]byte(format))
	if err != nil {
		b.Fatal(err)
	}
	logits := make([]float32, v.Size())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if mode != repeat {
			g, _ = compileFormat([]byte(format))
		}
		st := g.Start(v)
		st.noCache = mode == noCache
		for _, id := range ids {
			st.Mask(logits)
			if err := st.Accept(id); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids)), "ns/step")
	b.ReportMetric(float64(len(ids)), "steps")
	if testing.Verbose() {
		g, _ = compileFormat([]byte(format))
		st := g.Start(v)
		for _, id := range ids {
			t0 := time.Now()
			hit := g.cache.get(v, appendKey(nil, st.set, v.maxTok)) != nil
			st.Mask(logits)
			b.Logf("%-12q hit=%v %v", tok.Piece(id, false), hit, time.Since(t0))
			st.Accept(id)
		}
	}
}

func BenchmarkLlama3Schema(b *testing.B) {
	benchSteps(b, llama3Tokenizer(b), benchSchema, benchDoc, fresh)
}

func BenchmarkLlama3SchemaRepeat(b *testing.B) {
	benchSteps(b, llama3Tokenizer(b), benchSchema, benchDoc, repeat)
}

func BenchmarkLlama3SchemaNoCache(b *testing.B) {
	benchSteps(b, llama3Tokenizer(b), benchSchema, benchDoc, noCache)
}

func BenchmarkLlama3JSON(b *testing.B) {
	benchSteps(b, llama3Tokenizer(b), `"json"`, benchDoc, fresh)
}

func BenchmarkLlama2Schema(b *testing.B) {
	benchSteps(b, llama2Tokenizer(b), benchSchema, benchDoc, fresh)
}

func BenchmarkLlama2SchemaNoCache(b *testing.B) {
	benchSteps(b, llama2Tokenizer(b), benchSchema, benchDoc, noCache)
}

// BenchmarkMaskOnly is the cost of applying a cached mask to 128k logits.
func BenchmarkLlama3MaskCached(b *testing.B) {
	tok := llama3Tokenizer(b)
	v := VocabFromTokenizer(tok)
	g, _ := compileFormat([]byte(benchSchema))
	st := g.Start(v)
	if err := st.AcceptText(`{"name": "Ada`); err != nil {
		b.Fatal(err)
	}
	logits := make([]float32, v.Size())
	st.Mask(logits)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.Mask(logits)
	}
}

func BenchmarkNewVocabLlama3(b *testing.B) {
	tok := llama3Tokenizer(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		VocabFromTokenizer(tok)
	}
}

// BenchmarkVocabStats reports the tries' sizes (for the docs).
func BenchmarkVocabStats(b *testing.B) {
	for _, c := range []struct {
		name string
		tok  func(*testing.B) *tokenizer.Tokenizer
	}{{"llama3", llama3Tokenizer}, {"llama2", llama2Tokenizer}} {
		v := VocabFromTokenizer(c.tok(b))
		b.Logf("%s: %d tokens, %d plain, trie %d nodes, rest trie %d nodes, longest %d bytes", c.name, v.Size(), len(v.plain), len(v.all.label), len(v.rest.label), v.maxTok)
	}
}

// BenchmarkLlama3Pattern: strings constrained by regular expressions walk
// the whole vocabulary (no plain-text shortcut).
func BenchmarkLlama3Pattern(b *testing.B) {
	schema := `{"type":"object","properties":{"name":{"type":"string","pattern":"^[A-Z][a-z]+( [A-Z][a-z]+)*$"},"phone":{"type":"string","pattern":"^\\+?[0-9]{2,3}-[0-9]{3}-[0-9]{4}$"},"note":{"type":"string","pattern":"^[^<>]*$"}},"required":["name","phone","note"]}`
	doc := `{"name": "Ada Lovelace King", "phone": "+44-207-1234", "note": "Wrote the first published algorithm for the Analytical Engine."}`
	benchSteps(b, llama3Tokenizer(b), schema, doc, fresh)
}
