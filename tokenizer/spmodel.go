package tokenizer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
)

// SPModel is the part of a sentencepiece ModelProto (tokenizer.model) that
// tokenization needs. The protobuf is decoded by hand: the schema is small
// and stable, and a generated package would be the only user of a protobuf
// dependency.
type SPModel struct {
	Pieces []SPPiece

	// trainer_spec
	ModelType       int32 // 1 unigram, 2 BPE, 3 word, 4 char
	ByteFallback    bool
	UnkID, BOSID    int32
	EOSID, PadID    int32
	TreatWSAsSuffix bool

	// normalizer_spec
	NormalizerName         string
	PrecompiledCharsmap    []byte
	AddDummyPrefix         bool
	RemoveExtraWhitespaces bool
	EscapeWhitespaces      bool
}

// SPPiece is one vocabulary entry.
type SPPiece struct {
	Piece string
	Score float32
	Type  TokenType // sentencepiece's types share GGUF's numbering
}

// ReadSPModel parses a sentencepiece model file.
func ReadSPModel(path string) (*SPModel, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseSPModel(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseSPModel decodes a serialized sentencepiece ModelProto.
func ParseSPModel(data []byte) (*SPModel, error) {
	m := &SPModel{
		ModelType: 1, UnkID: 0, BOSID: 1, EOSID: 2, PadID: -1,
		AddDummyPrefix: true, RemoveExtraWhitespaces: true, EscapeWhitespaces: true,
	}
	err := walkProto(data, func(field int, wire int, v uint64, b []byte) error {
		switch field {
		case 1:
			if wire != 2 {
				return fmt.Errorf("pieces: wire type %d", wire)
			}
			p := SPPiece{Type: TypeNormal}
			err := walkProto(b, func(f, w int, v uint64, b []byte) error {
				switch {
				case f == 1 && w == 2:
					p.Piece = string(b)
				case f == 2 && w == 5:
					p.Score = math.Float32frombits(uint32(v))
				case f == 3 && w == 0:
					p.Type = TokenType(int32(v))
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.Pieces), err)
			}
			m.Pieces = append(m.Pieces, p)
		case 2:
			if wire != 2 {
				return fmt.Errorf("trainer_spec: wire type %d", wire)
			}
			return walkProto(b, func(f, w int, v uint64, b []byte) error {
				if w != 0 {
					return nil
				}
				switch f {
				case 3:
					m.ModelType = int32(v)
				case 24:
					m.TreatWSAsSuffix = v != 0
				case 35:
					m.ByteFallback = v != 0
				case 40:
					m.UnkID = int32(v)
				case 41:
					m.BOSID = int32(v)
				case 42:
					m.EOSID = int32(v)
				case 43:
					m.PadID = int32(v)
				}
				return nil
			})
		case 3:
			if wire != 2 {
				return fmt.Errorf("normalizer_spec: wire type %d", wire)
			}
			return walkProto(b, func(f, w int, v uint64, b []byte) error {
				switch {
				case f == 1 && w == 2:
					m.NormalizerName = string(b)
				case f == 2 && w == 2:
					m.PrecompiledCharsmap = append([]byte(nil), b...)
				case f == 3 && w == 0:
					m.AddDummyPrefix = v != 0
				case f == 4 && w == 0:
					m.RemoveExtraWhitespaces = v != 0
				case f == 5 && w == 0:
					m.EscapeWhitespaces = v != 0
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sentencepiece model: %w", err)
	}
	if len(m.Pieces) == 0 {
		return nil, errors.New("sentencepiece model: no pieces")
	}
	return m, nil
}

// walkProto calls fn for each field of a protobuf message: varints and
// fixed-width values in v, length-delimited payloads in b.
func walkProto(data []byte, fn func(field, wire int, v uint64, b []byte) error) error {
	for off := 0; off < len(data); {
		key, n := binary.Uvarint(data[off:])
		if n <= 0 {
			return fmt.Errorf("bad field key at byte %d", off)
		}
		off += n
		field, wire := int(key>>3), int(key&7)
		if field == 0 {
			return fmt.Errorf("field number 0 at byte %d", off-n)
		}
		var v uint64
		var b []byte
		switch wire {
		case 0:
			v, n = binary.Uvarint(data[off:])
			if n <= 0 {
				return fmt.Errorf("bad varint at byte %d", off)
			}
			off += n
		case 1:
			if len(data)-off < 8 {
				return fmt.Errorf("truncated fixed64 at byte %d", off)
			}
			v = binary.LittleEndian.Uint64(data[off:])
			off += 8
		case 2:
			l, n := binary.Uvarint(data[off:])
			if n <= 0 {
				return fmt.Errorf("bad length at byte %d", off)
			}
			off += n
			if l > uint64(len(data)-off) {
				return fmt.Errorf("length %d at byte %d runs past the end", l, off)
			}
			b = data[off : off+int(l)]
			off += int(l)
		case 5:
			if len(data)-off < 4 {
				return fmt.Errorf("truncated fixed32 at byte %d", off)
			}
			v = uint64(binary.LittleEndian.Uint32(data[off:]))
			off += 4
		default:
			return fmt.Errorf("unsupported wire type %d at byte %d", wire, off)
		}
		if err := fn(field, wire, v, b); err != nil {
			return err
		}
	}
	return nil
}
