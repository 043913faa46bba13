package quant

import "testing"

// FuzzDequantize feeds arbitrary bytes to every dequantizer and dot
// product: whatever the block contents, they must not panic.
func FuzzDequantize(f *testing.F) {
	f.Add(make([]byte, 292), uint8(0))
	f.Add([]byte{0xff, 0x7f, 0x00, 0xfc}, uint8(3))
	types := append([]Type{Q8_K, Q8_1}, allQuantTypes...)
	f.Fuzz(func(t *testing.T, b []byte, sel uint8) {
		typ := types[int(sel)%len(types)]
		bs, bpb := typ.BlockSize(), typ.BytesPerBlock()
		nb := len(b) / bpb
		if nb == 0 {
			return
		}
		src := b[:nb*bpb]
		dst := make([]float32, nb*bs)
		if err := Dequantize(typ, src, dst); err != nil {
			t.Fatal(err)
		}
		if tr := table[typ]; tr.vecDot != nil {
			vt := VecDotType(typ)
			act := make([]byte, nb*bs/vt.BlockSize()*vt.BytesPerBlock())
			for i := range act {
				act[i] = b[i%len(b)]
			}
			VecDot(typ, nb*bs, src, act)
		}
		// Re-quantizing whatever came out must not panic either (NaN, Inf).
		if CanQuantize(typ) {
			Quantize(typ, dst, make([]byte, len(src)))
		}
	})
}
