package gguf

import (
	"strings"
	"testing"
)

// TestTypeTraits checks block geometry against the block layouts: scale
// fields plus packed quants.
func TestTypeTraits(t *testing.T) {
	tests := []struct {
		typ   Type
		id    uint32
		name  string
		block int
		size  int
	}{
		{TypeF32, 0, "F32", 1, 4},
		{TypeF16, 1, "F16", 1, 2},
		{TypeQ4_0, 2, "Q4_0", 32, 2 + 16},
		{TypeQ4_1, 3, "Q4_1", 32, 2 + 2 + 16},
		{TypeQ5_0, 6, "Q5_0", 32, 2 + 4 + 16},
		{TypeQ5_1, 7, "Q5_1", 32, 2 + 2 + 4 + 16},
		{TypeQ8_0, 8, "Q8_0", 32, 2 + 32},
		{TypeQ8_1, 9, "Q8_1", 32, 2 + 2 + 32},
		{TypeQ2_K, 10, "Q2_K", 256, 16 + 64 + 2 + 2},
		{TypeQ3_K, 11, "Q3_K", 256, 32 + 64 + 12 + 2},
		{TypeQ4_K, 12, "Q4_K", 256, 2 + 2 + 12 + 128},
		{TypeQ5_K, 13, "Q5_K", 256, 2 + 2 + 12 + 32 + 128},
		{TypeQ6_K, 14, "Q6_K", 256, 128 + 64 + 16 + 2},
		{TypeQ8_K, 15, "Q8_K", 256, 4 + 256 + 32},
		{TypeIQ4_NL, 20, "IQ4_NL", 32, 18},
		{TypeI8, 24, "I8", 1, 1},
		{TypeI32, 26, "I32", 1, 4},
		{TypeF64, 28, "F64", 1, 8},
		{TypeBF16, 30, "BF16", 1, 2},
		{TypeTQ1_0, 34, "TQ1_0", 256, 54},
		{TypeMXFP4, 39, "MXFP4", 32, 17},
	}
	for _, tc := range tests {
		if uint32(tc.typ) != tc.id || tc.typ.String() != tc.name || tc.typ.BlockSize() != tc.block || tc.typ.TypeSize() != tc.size || !tc.typ.Known() {
			t.Errorf("%d: got %s block %d size %d, want %s %d %d", tc.id, tc.typ, tc.typ.BlockSize(), tc.typ.TypeSize(), tc.name, tc.block, tc.size)
		}
	}
	for _, id := range []uint32{4, 5, 31, 36, 99} {
		typ := Type(id)
		if typ.Known() || typ.BlockSize() != 0 || !strings.Contains(typ.String(), "type(") {
			t.Errorf("removed or unknown id %d is known as %s", id, typ)
		}
	}
	if F32 != TypeF32 || Q8_0 != 8 || Q4_K != 12 || Q6_K != 14 || BF16 != 30 || Q4_0 != 2 || F16 != 1 {
		t.Error("short aliases differ from the ggml ids")
	}
	if ValueArray.String() != "array" || ValueFloat64.String() != "float64" || ValueType(13).String() != "value_type(13)" {
		t.Error("ValueType names")
	}
}

func TestRowSize(t *testing.T) {
	tests := []struct {
		typ  Type
		n    int
		want int
		ok   bool
	}{
		{TypeF32, 3, 12, true},
		{TypeQ8_0, 4096, 128 * 34, true},
		{TypeQ4_K, 4096, 16 * 144, true},
		{TypeQ6_K, 512, 420, true},
		{TypeQ8_0, 0, 0, true},
		{TypeQ8_0, 33, 0, false},
		{TypeQ4_K, 128, 0, false},
		{TypeF16, -2, 0, false},
		{Type(4), 32, 0, false},
	}
	for _, tc := range tests {
		got, err := RowSize(tc.typ, tc.n)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("RowSize(%s, %d) = %d, %v; want %d, ok=%v", tc.typ, tc.n, got, err, tc.want, tc.ok)
		}
	}
}
