package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// allValueKVs has one entry per metadata value type, scalar and array,
// plus empty and nested arrays.
func allValueKVs() []KV {
	return []KV{
		{"general.architecture", "llama"},
		{"t.uint8", uint8(200)},
		{"t.int8", int8(-100)},
		{"t.uint16", uint16(60000)},
		{"t.int16", int16(-30000)},
		{"t.uint32", uint32(4000000000)},
		{"t.int32", int32(-2000000000)},
		{"t.uint64", uint64(1) << 63},
		{"t.int64", int64(-1) << 62},
		{"t.float32", float32(3.25)},
		{"t.float64", 1e300},
		{"t.bool_true", true},
		{"t.bool_false", false},
		{"t.string", "héllo"},
		{"t.empty_string", ""},
		{"t.a_uint8", []uint8{0, 1, 255}},
		{"t.a_int8", []int8{-128, 0, 127}},
		{"t.a_uint16", []uint16{0, 65535}},
		{"t.a_int16", []int16{-32768, 32767}},
		{"t.a_uint32", []uint32{0, 1 << 31}},
		{"t.a_int32", []int32{-1, 2, 3}},
		{"t.a_uint64", []uint64{math.MaxUint64}},
		{"t.a_int64", []int64{math.MinInt64, math.MaxInt64}},
		{"t.a_float32", []float32{0.5, -1, float32(math.Inf(1))}},
		{"t.a_float64", []float64{math.SmallestNonzeroFloat64}},
		{"t.a_bool", []bool{true, false, true}},
		{"t.a_string", []string{"a", "", "<s>", "▁the"}},
		{"t.a_empty", []int32{}},
		{"t.a_empty_string", []string{}},
		{"t.a_nested", []any{[]int32{1, 2}, []string{"x"}, []any{[]uint8{7}, []any{}}, []float32{}}},
	}
}

// buildFile writes a file with all metadata types and one tensor per
// computable type, returning the bytes and the source tensor values.
func buildFile(t testing.TB, alignment uint64) ([]byte, map[string][]float32) {
	t.Helper()
	w := NewWriter(3)
	if alignment != 0 {
		w.SetAlignment(alignment)
	}
	for _, kv := range allValueKVs() {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	src := map[string][]float32{}
	for i, typ := range computeTypes {
		name := "blk." + typ.String() + ".weight"
		vals := gaussian(256*3, uint64(i))
		data, err := Quantize(typ, vals)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(name, typ, []uint64{256, 3}, data); err != nil {
			t.Fatal(err)
		}
		src[name] = vals
	}
	// A 1-D tensor of odd size (needs padding) and a type this package
	// cannot dequantize but can size.
	norm, _ := Quantize(TypeF32, []float32{1, 2, 3})
	if err := w.AddTensor("output_norm.weight", TypeF32, []uint64{3}, norm); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("iq2", TypeIQ2_XXS, []uint64{256, 1, 1, 2}, make([]byte, 2*66)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes(), src
}

func TestWriteReadRoundTrip(t *testing.T) {
	for _, align := range []uint64{0, 64, 1} {
		data, src := buildFile(t, align)
		f, err := Parse(data)
		if err != nil {
			t.Fatalf("alignment %d: %v", align, err)
		}
		wantAlign := align
		if align == 0 {
			wantAlign = DefaultAlignment
		}
		if f.Version != 3 || f.Alignment != wantAlign {
			t.Errorf("version %d alignment %d, want 3 and %d", f.Version, f.Alignment, wantAlign)
		}
		kvs := allValueKVs()
		if wantAlign != DefaultAlignment {
			kvs = append(kvs, KV{KeyAlignment, uint32(wantAlign)})
		}
		if !reflect.DeepEqual(f.KVs, kvs) {
			t.Errorf("KVs differ:\n got %#v\nwant %#v", f.KVs, kvs)
		}
		if f.Architecture() != "llama" {
			t.Errorf("Architecture() = %q", f.Architecture())
		}
		if f.DataOffset%wantAlign != 0 {
			t.Errorf("data offset %d not aligned to %d", f.DataOffset, wantAlign)
		}
		if len(f.Tensors) != len(src)+2 {
			t.Fatalf("%d tensors, want %d", len(f.Tensors), len(src)+2)
		}
		for _, ti := range f.Tensors {
			if ti.Offset%wantAlign != 0 {
				t.Errorf("tensor %s offset %d not aligned", ti.Name, ti.Offset)
			}
			want, ok := src[ti.Name]
			if !ok {
				continue
			}
			if !reflect.DeepEqual(ti.Dims, []uint64{256, 3}) || ti.NumElements() != 768 {
				t.Errorf("tensor %s dims %v", ti.Name, ti.Dims)
			}
			raw, err := f.TensorData(ti)
			if err != nil {
				t.Fatal(err)
			}
			enc, _ := Quantize(ti.Type, want)
			if !bytes.Equal(raw, enc) {
				t.Errorf("tensor %s data differs", ti.Name)
			}
			vals, dims, err := f.TensorF32(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			deq := make([]float32, len(want))
			_ = Dequantize(ti.Type, enc, deq)
			if !reflect.DeepEqual(vals, deq) || !reflect.DeepEqual(dims, ti.Dims) {
				t.Errorf("TensorF32(%s) differs from Dequantize", ti.Name)
			}
		}
		norm, dims, err := f.TensorF32("output_norm.weight")
		if err != nil || !reflect.DeepEqual(norm, []float32{1, 2, 3}) || !reflect.DeepEqual(dims, []uint64{3}) {
			t.Errorf("TensorF32(output_norm.weight) = %v %v %v", norm, dims, err)
		}
		iq, ok := f.Tensor("iq2")
		if !ok || iq.Type != TypeIQ2_XXS || iq.Size != 2*66 || len(iq.Dims) != 4 {
			t.Errorf("iq2 = %+v", iq)
		}
		if _, _, err := f.TensorF32("iq2"); err == nil || !strings.Contains(err.Error(), "IQ2_XXS") {
			t.Errorf("TensorF32 of IQ2_XXS: %v", err)
		}
		if _, _, err := f.TensorF32("missing"); err == nil {
			t.Error("TensorF32 of a missing tensor succeeded")
		}
		if _, ok := f.Tensor("missing"); ok {
			t.Error("Tensor(missing) found")
		}
	}
}

func TestWriterLayout(t *testing.T) {
	w := NewWriter(3)
	if err := w.AddKV("general.architecture", "llama"); err != nil {
		t.Fatal(err)
	}
	a := []byte{1, 2, 3, 4}
	b := bytes.Repeat([]byte{9}, 8)
	if err := w.AddTensor("a", TypeF32, []uint64{1}, a); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("b", TypeF16, []uint64{2, 2}, b); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	le := binary.LittleEndian
	var want []byte
	want = append(want, "GGUF"...)
	want = le.AppendUint32(want, 3)
	want = le.AppendUint64(want, 2) // tensors
	want = le.AppendUint64(want, 1) // kvs
	want = le.AppendUint64(want, 20)
	want = append(want, "general.architecture"...)
	want = le.AppendUint32(want, uint32(ValueString))
	want = le.AppendUint64(want, 5)
	want = append(want, "llama"...)
	want = le.AppendUint64(want, 1)
	want = append(want, 'a')
	want = le.AppendUint32(want, 1)
	want = le.AppendUint64(want, 1)
	want = le.AppendUint32(want, uint32(TypeF32))
	want = le.AppendUint64(want, 0)
	want = le.AppendUint64(want, 1)
	want = append(want, 'b')
	want = le.AppendUint32(want, 2)
	want = le.AppendUint64(want, 2)
	want = le.AppendUint64(want, 2)
	want = le.AppendUint32(want, uint32(TypeF16))
	want = le.AppendUint64(want, 32) // a padded to 32
	for len(want)%32 != 0 {
		want = append(want, 0)
	}
	want = append(want, a...)
	want = append(want, make([]byte, 28)...)
	want = append(want, b...)
	want = append(want, make([]byte, 24)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("layout differs:\n got %x\nwant %x", got, want)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(3)
	if err := w.AddKV("k", uint32(1)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("t", TypeF32, []uint64{1}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	kvErrs := []struct {
		key string
		v   any
	}{
		{"k", uint32(2)},                  // duplicate
		{"", uint32(2)},                   // empty key
		{"int", 5},                        // unsized int
		{"map", map[string]int{}},         // unsupported
		{"nested", []any{uint32(1)}},      // []any of scalars
		{KeyAlignment, uint32(3)},         // not a power of two
		{KeyAlignment, uint64(64)},        // wrong type
		{"deep", nest(maxArrayDepth + 1)}, // too deep
	}
	for _, tc := range kvErrs {
		if err := w.AddKV(tc.key, tc.v); err == nil {
			t.Errorf("AddKV(%q, %T) succeeded", tc.key, tc.v)
		}
	}
	tensorErrs := []struct {
		name string
		typ  Type
		dims []uint64
		n    int
	}{
		{"t", TypeF32, []uint64{1}, 4},                     // duplicate
		{"", TypeF32, []uint64{1}, 4},                      // empty name
		{strings.Repeat("x", 64), TypeF32, []uint64{1}, 4}, // too long
		{"u", Type(4), []uint64{1}, 4},                     // removed type id
		{"u", TypeF32, []uint64{}, 0},                      // no dims
		{"u", TypeF32, []uint64{1, 1, 1, 1, 1}, 4},         // five dims
		{"u", TypeF32, []uint64{0}, 0},                     // zero dim
		{"u", TypeQ8_0, []uint64{16}, 17},                  // partial block
		{"u", TypeF32, []uint64{2}, 4},                     // short data
	}
	for _, tc := range tensorErrs {
		if err := w.AddTensor(tc.name, tc.typ, tc.dims, make([]byte, tc.n)); err == nil {
			t.Errorf("AddTensor(%q, %s, %v) succeeded", tc.name, tc.typ, tc.dims)
		}
	}
	var v2 bytes.Buffer
	w2 := NewWriter(2)
	_ = w2.AddKV("general.architecture", "llama")
	if _, err := w2.WriteTo(&v2); err != nil {
		t.Fatal(err)
	}
	if f, err := Parse(v2.Bytes()); err != nil || f.Version != 2 || f.Architecture() != "llama" {
		t.Errorf("version 2 file: %v", err)
	}
	if _, err := NewWriter(1).WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("writing version 1 succeeded")
	}
	w.SetAlignment(48)
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil {
		t.Error("writing with alignment 48 succeeded")
	}
	if _, err := NewWriter(3).WriteTo(failWriter{}); err == nil {
		t.Error("write error not reported")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func nest(depth int) any {
	var v any = []uint8{1}
	for i := 1; i < depth; i++ {
		v = []any{v}
	}
	return v
}

func TestAccessors(t *testing.T) {
	w := NewWriter(3)
	for _, kv := range []KV{
		{"s", "str"}, {"u8", uint8(7)}, {"i16", int16(9)}, {"neg", int32(-1)}, {"f32", float32(0.5)},
		{"f64", 2.5}, {"b", true}, {"ss", []string{"a", "b"}}, {"fs", []float32{1, 2}}, {"fd", []float64{3}},
		{"is", []int32{-1, 5}}, {"us", []uint32{1, 2}}, {"big", []uint64{1 << 40}}, {"u64", uint64(1) << 40},
	} {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.String("s"); v != "str" || err != nil {
		t.Errorf("String = %q, %v", v, err)
	}
	for key, want := range map[string]uint64{"u8": 7, "i16": 9, "u64": 1 << 40} {
		if v, err := f.Uint(key); v != want || err != nil {
			t.Errorf("Uint(%s) = %d, %v", key, v, err)
		}
	}
	for key, want := range map[string]float64{"f32": 0.5, "f64": 2.5, "u8": 7, "neg": -1} {
		if v, err := f.Float(key); v != want || err != nil {
			t.Errorf("Float(%s) = %g, %v", key, v, err)
		}
	}
	if v, err := f.Bool("b"); !v || err != nil {
		t.Errorf("Bool = %v, %v", v, err)
	}
	if v, err := f.Strings("ss"); !reflect.DeepEqual(v, []string{"a", "b"}) || err != nil {
		t.Errorf("Strings = %v, %v", v, err)
	}
	if v, err := f.Float32s("fs"); !reflect.DeepEqual(v, []float32{1, 2}) || err != nil {
		t.Errorf("Float32s = %v, %v", v, err)
	}
	if v, err := f.Float32s("fd"); !reflect.DeepEqual(v, []float32{3}) || err != nil {
		t.Errorf("Float32s(fd) = %v, %v", v, err)
	}
	if v, err := f.Int32s("is"); !reflect.DeepEqual(v, []int32{-1, 5}) || err != nil {
		t.Errorf("Int32s = %v, %v", v, err)
	}
	if v, err := f.Int32s("us"); !reflect.DeepEqual(v, []int32{1, 2}) || err != nil {
		t.Errorf("Int32s(us) = %v, %v", v, err)
	}
	errCases := []struct {
		call func() error
		want []string
	}{
		{func() error { _, err := f.String("u8"); return err }, []string{`"u8"`, "uint8", "string"}},
		{func() error { _, err := f.Uint("neg"); return err }, []string{`"neg"`, "negative"}},
		{func() error { _, err := f.Uint("s"); return err }, []string{`"s"`, "string"}},
		{func() error { _, err := f.Float("b"); return err }, []string{`"b"`, "bool"}},
		{func() error { _, err := f.Bool("s"); return err }, []string{`"s"`, "string"}},
		{func() error { _, err := f.Strings("is"); return err }, []string{`"is"`, "array of int32"}},
		{func() error { _, err := f.Float32s("ss"); return err }, []string{`"ss"`, "array of string"}},
		{func() error { _, err := f.Int32s("big"); return err }, []string{`"big"`, "element 0"}},
		{func() error { _, err := f.Int32s("fs"); return err }, []string{`"fs"`, "array of float32"}},
	}
	for i, tc := range errCases {
		err := tc.call()
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("case %d: error %q does not mention %s", i, err, s)
			}
		}
	}
	for _, call := range []func() error{
		func() error { _, err := f.String("missing"); return err },
		func() error { _, err := f.Uint("missing"); return err },
		func() error { _, err := f.Float("missing"); return err },
		func() error { _, err := f.Bool("missing"); return err },
		func() error { _, err := f.Strings("missing"); return err },
		func() error { _, err := f.Float32s("missing"); return err },
		func() error { _, err := f.Int32s("missing"); return err },
	} {
		if err := call(); !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), "missing") {
			t.Errorf("missing key error = %v", err)
		}
	}
	if f.Architecture() != "" {
		t.Errorf("Architecture() = %q, want empty", f.Architecture())
	}
}

func TestOpen(t *testing.T) {
	data, src := buildFile(t, 0)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ti, ok := f.Tensor("blk.Q8_0.weight")
	if !ok {
		t.Fatal("tensor missing")
	}
	raw, err := f.TensorData(ti)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := Quantize(TypeQ8_0, src[ti.Name])
	if !bytes.Equal(raw, enc) {
		t.Error("mapped tensor data differs")
	}
	// Metadata survives Close; tensor data access does not.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if f.Architecture() != "llama" {
		t.Error("metadata lost after Close")
	}
	if _, err := f.TensorData(ti); err == nil {
		t.Error("TensorData after Close succeeded")
	}

	if _, err := Open(filepath.Join(t.TempDir(), "none.gguf")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.gguf")
	_ = os.WriteFile(bad, []byte("GGML and more bytes"), 0o600)
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "bad.gguf") || !strings.Contains(err.Error(), "magic") {
		t.Errorf("Open of a bad file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.gguf")
	_ = os.WriteFile(empty, nil, 0o600)
	if _, err := Open(empty); err == nil {
		t.Error("Open of an empty file succeeded")
	}
}

func TestTensorDataBounds(t *testing.T) {
	data, _ := buildFile(t, 0)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range []TensorInfo{
		{Name: "x", Offset: uint64(len(data)), Size: 1},
		{Name: "y", Offset: 0, Size: uint64(len(data))},
		{Name: "z", Offset: math.MaxUint64 - 1, Size: 4},
	} {
		if _, err := f.TensorData(ti); err == nil || !strings.Contains(err.Error(), ti.Name) {
			t.Errorf("TensorData(%+v) = %v", ti, err)
		}
	}
}

// raw assembles GGUF bytes by hand for malformed-input tests.
type raw struct{ b []byte }

func (r *raw) u32(v uint32) *raw    { r.b = binary.LittleEndian.AppendUint32(r.b, v); return r }
func (r *raw) u64(v uint64) *raw    { r.b = binary.LittleEndian.AppendUint64(r.b, v); return r }
func (r *raw) bytes(p ...byte) *raw { r.b = append(r.b, p...); return r }
func (r *raw) str(s string) *raw    { r.u64(uint64(len(s))); r.b = append(r.b, s...); return r }
func (r *raw) pad(a int) *raw {
	for len(r.b)%a != 0 {
		r.b = append(r.b, 0)
	}
	return r
}

func header(nTensors, nKV uint64) *raw {
	r := &raw{}
	r.bytes([]byte("GGUF")...).u32(3).u64(nTensors).u64(nKV)
	return r
}

// tensorInfo appends a tensor info.
func (r *raw) tensor(name string, typ Type, offset uint64, dims ...uint64) *raw {
	r.str(name).u32(uint32(len(dims)))
	for _, d := range dims {
		r.u64(d)
	}
	return r.u32(uint32(typ)).u64(offset)
}

func TestParseMalformed(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want []string // substrings of the error
	}{
		{"empty", nil, []string{"too short"}},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), []string{"bad magic", "at byte 0"}},
		{"version 1", (&raw{}).bytes([]byte("GGUF")...).u32(1).u32(0).u32(0).b, []string{"unsupported version 1"}},
		{"big endian", (&raw{}).bytes([]byte("GGUF")...).bytes(0, 0, 0, 3).u64(0).u64(0).b, []string{"big-endian"}},
		{"version 4", (&raw{}).bytes([]byte("GGUF")...).u32(4).u64(0).u64(0).b, []string{"unsupported version 4"}},
		{"no counts", (&raw{}).bytes([]byte("GGUF")...).u32(3).b, []string{"tensor count", "at byte 8"}},
		{"absurd kv count", header(0, 1<<60).b, []string{"metadata count"}},
		{"absurd tensor count", header(1<<60, 0).b, []string{"tensor count"}},
		{"absurd key length", header(0, 1).u64(1 << 62).u32(4).u32(0).b, []string{"length 4611686018427387904", "key of metadata entry 0", "at byte 24"}},
		{"absurd string value", header(0, 1).str("k").u32(uint32(ValueString)).u64(1 << 40).b, []string{`"k"`, "exceeds"}},
		{"absurd array count", header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueUint32)).u64(1 << 40).b, []string{`"k"`, "array of 1099511627776 uint32"}},
		{"absurd string array", header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(1 << 40).u64(0).b, []string{`"k"`, "array of"}},
		{"absurd nested array", header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueArray)).u64(1 << 40).u64(0).u32(0).b, []string{`"k"`, "array of"}},
		{"truncated string element", header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(2).str("a").u64(5).b, []string{"element 1", `"k"`}},
		{"unknown value type", header(0, 1).str("k").u32(13).u32(0).b, []string{`"k"`, "unknown value type 13"}},
		{"unknown array type", header(0, 1).str("k").u32(uint32(ValueArray)).u32(99).u64(0).b, []string{`"k"`, "unknown element type 99"}},
		{"bad bool", header(0, 1).str("k").u32(uint32(ValueBool)).bytes(2).b, []string{`"k"`, "bool"}},
		{"bad bool in array", header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueBool)).u64(2).bytes(1, 5).b, []string{`"k"`, "element 1"}},
		{"duplicate key", header(0, 2).str("k").u32(uint32(ValueUint8)).bytes(1).str("k").u32(uint32(ValueUint8)).bytes(2).b, []string{"duplicate metadata key \"k\"", "at byte 38"}},
		{"too deep", deepArray(maxArrayDepth + 1), []string{"nested deeper"}},
		{"alignment not power of two", header(0, 1).str(KeyAlignment).u32(uint32(ValueUint32)).u32(48).b, []string{KeyAlignment, "power of two"}},
		{"alignment zero", header(0, 1).str(KeyAlignment).u32(uint32(ValueUint32)).u32(0).b, []string{KeyAlignment}},
		{"alignment string", header(0, 1).str(KeyAlignment).u32(uint32(ValueString)).str("32").b, []string{KeyAlignment, "string"}},
		{"unknown tensor type", header(1, 0).tensor("w", Type(4), 0, 32).pad(32).b, []string{`tensor "w"`, "type id 4"}},
		{"zero dims", header(1, 0).tensor("w", TypeF32, 0).u64(0).pad(32).b, []string{`tensor "w"`, "0 dimensions"}},
		{"five dims", header(1, 0).tensor("w", TypeF32, 0, 1, 1, 1, 1, 1).pad(32).b, []string{`tensor "w"`, "5 dimensions"}},
		{"zero dim", header(1, 0).tensor("w", TypeF32, 0, 4, 0).pad(32).b, []string{`tensor "w"`, "dimension 1 is zero"}},
		{"overflowing dims", header(1, 0).tensor("w", TypeF32, 0, 1<<40, 1<<40).pad(32).b, []string{`tensor "w"`, "overflows"}},
		{"partial block", header(1, 0).tensor("w", TypeQ8_0, 0, 16).pad(32).bytes(make([]byte, 32)...).b, []string{`tensor "w"`, "block size"}},
		{"misaligned offset", header(1, 0).tensor("w", TypeF32, 8, 2).pad(32).bytes(make([]byte, 64)...).b, []string{`tensor "w"`, "offset 8", "alignment 32"}},
		{"data past end", header(1, 0).tensor("w", TypeF32, 0, 16).pad(32).bytes(make([]byte, 63)...).b, []string{`tensor "w"`, "past its end"}},
		{"offset past end", header(1, 0).tensor("w", TypeF32, 1<<40, 1).pad(32).bytes(make([]byte, 32)...).b, []string{`tensor "w"`, "past its end"}},
		{"no data section", header(1, 0).tensor("w", TypeF32, 0, 1).b, []string{"data section"}},
		{"overlap", header(2, 0).tensor("a", TypeF32, 0, 16).tensor("b", TypeF32, 32, 1).pad(32).bytes(make([]byte, 64)...).b, []string{`"b"`, `"a"`, "overlaps"}},
		{"duplicate tensor", header(2, 0).tensor("a", TypeF32, 0, 1).tensor("a", TypeF32, 32, 1).pad(32).bytes(make([]byte, 64)...).b, []string{`duplicate tensor name "a"`}},
		{"truncated tensor info", header(1, 0).str("weight_name_long").u32(4).u64(4).b, []string{`tensor "weight_name_long"`, "dimension 1", "needs 8 bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			var fe *FormatError
			if tc.data != nil && !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FormatError", err)
			}
		})
	}
	// Version 2 and a file without tensors (ending before any padding) are fine.
	v2 := (&raw{}).bytes([]byte("GGUF")...).u32(2).u64(0).u64(1).str("k").u32(uint32(ValueUint8)).bytes(1).b
	if f, err := Parse(v2); err != nil || f.Version != 2 {
		t.Errorf("version 2: %v", err)
	}
}

func deepArray(depth int) []byte {
	r := header(0, 1).str("k").u32(uint32(ValueArray))
	for i := 1; i < depth; i++ {
		r.u32(uint32(ValueArray)).u64(1)
	}
	return r.u32(uint32(ValueUint8)).u64(0).b
}

// TestParseTruncated cuts a valid file at every byte offset. Every cut
// before the end of the last tensor's data must fail; cuts inside the
// trailing padding may succeed.
func TestParseTruncated(t *testing.T) {
	data, _ := buildFile(t, 0)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	end := uint64(0)
	for _, ti := range f.Tensors {
		end = max(end, f.DataOffset+ti.Offset+ti.Size)
	}
	for n := 0; n < len(data); n++ {
		_, err := Parse(data[:n])
		if uint64(n) < end && err == nil {
			t.Fatalf("Parse of the first %d of %d bytes succeeded", n, len(data))
		}
		if uint64(n) >= end && err != nil {
			t.Fatalf("Parse of the first %d bytes (all data present) failed: %v", n, err)
		}
	}
}

// TestParseAllocationBounded parses hostile headers that declare large
// counts and checks that memory use stays proportional to the input.
func TestParseAllocationBounded(t *testing.T) {
	const n = 1 << 16
	inputs := map[string][]byte{
		"empty nested arrays": header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueArray)).u64(n).
			bytes(bytes.Repeat(binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint32(nil, uint32(ValueUint8)), 0), n)...).b,
		"empty strings": header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(n).bytes(make([]byte, 8*n)...).b,
		"bools":         header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueBool)).u64(n).bytes(make([]byte, n)...).b,
		"lying count":   header(0, 1).str("k").u32(uint32(ValueArray)).u32(uint32(ValueString)).u64(n).bytes(make([]byte, 8*n-1)...).b,
	}
	for name, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _ = Parse(in)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(8*len(in)+1<<16) {
			t.Errorf("%s: %d input bytes allocated %d bytes", name, len(in), alloc)
		}
	}
}

// fuzzSeedFile is a small file with every value type and one tensor of
// each type the package computes with, one block (or 32 values) each: about
// 2 KB, where buildFile's is 10 KB. The fuzzer's cost per input, and above
// all its minimization of every new input, grows with the input's length;
// seeded with buildFile's file it spent its time minimizing and ran a few
// dozen inputs in 30 s.
func fuzzSeedFile(t testing.TB) []byte {
	t.Helper()
	w := NewWriter(3)
	for _, kv := range allValueKVs() {
		if err := w.AddKV(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for i, typ := range computeTypes {
		n := max(typ.BlockSize(), 32)
		data, err := Quantize(typ, gaussian(n, uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(typ.String(), typ, []uint64{uint64(n)}, data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzParse(f *testing.F) {
	full := fuzzSeedFile(f)
	f.Add(full)
	f.Add(full[:len(full)/2])
	f.Add(full[:100])
	small := NewWriter(3)
	_ = small.AddKV("general.architecture", "llama")
	_ = small.AddKV("n", []any{[]int32{1}, []string{"a"}})
	q, _ := Quantize(TypeQ4_K, gaussian(256, 1))
	_ = small.AddTensor("w", TypeQ4_K, []uint64{256}, q)
	var buf bytes.Buffer
	_, _ = small.WriteTo(&buf)
	f.Add(bytes.Clone(buf.Bytes()))
	f.Add(bytes.Clone(buf.Bytes()[:buf.Len()-200]))
	ro := NewWriter(3)
	for i, typ := range []Type{TypeQ4_1, TypeQ5_0, TypeQ5_1, TypeQ2_K, TypeQ3_K, TypeQ5_K} {
		n := typ.BlockSize()
		blk := make([]byte, typ.TypeSize())
		for j := range blk {
			blk[j] = byte(j*7 + i)
		}
		_ = ro.AddTensor(typ.String(), typ, []uint64{uint64(n)}, blk)
	}
	buf.Reset()
	_, _ = ro.WriteTo(&buf)
	f.Add(bytes.Clone(buf.Bytes()))
	f.Add(deepArray(3))
	f.Add(header(2, 0).tensor("a", TypeF32, 0, 16).tensor("b", TypeF32, 64, 1).pad(32).bytes(make([]byte, 96)...).b)
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data) })
}

// checkParse is FuzzParse's property: whatever parses is consistent, its
// tensors read back, and a file the writer can reproduce reads back the same.
func checkParse(t testing.TB, data []byte) {
	file, err := Parse(data)
	if err != nil {
		if file != nil {
			t.Fatal("non-nil File with an error")
		}
		return
	}
	for _, kv := range file.KVs {
		if v, ok := file.Get(kv.Key); !ok || typeName(v) != typeName(kv.Value) {
			t.Fatalf("Get(%q) inconsistent", kv.Key)
		}
	}
	w := NewWriter(file.Version)
	ok := true
	for _, kv := range file.KVs {
		if kv.Key == KeyAlignment {
			if _, is32 := kv.Value.(uint32); !is32 {
				ok = false
			}
		}
		if w.AddKV(kv.Key, kv.Value) != nil {
			ok = false
		}
	}
	for _, ti := range file.Tensors {
		raw, err := file.TensorData(ti)
		if err != nil {
			t.Fatalf("TensorData(%s) of a parsed file: %v", ti.Name, err)
		}
		if uint64(len(raw)) != ti.Size {
			t.Fatalf("TensorData(%s) returned %d bytes, want %d", ti.Name, len(raw), ti.Size)
		}
		if CanDequantize(ti.Type) && ti.NumElements() <= 1<<16 {
			vals, _, err := file.TensorF32(ti.Name)
			if err != nil || uint64(len(vals)) != ti.NumElements() {
				t.Fatalf("TensorF32(%s): %v", ti.Name, err)
			}
			if len(ti.Dims) > 0 && ti.Dims[0] == ti.NumElements() {
				x := make([]float32, len(vals))
				DotRow(ti.Type, raw, x)
			}
		}
		if w.AddTensor(ti.Name, ti.Type, ti.Dims, raw) != nil {
			ok = false
		}
	}
	if !ok || file.Alignment != w.alignment {
		return
	}
	// A file the writer can reproduce reads back to the same content.
	var out bytes.Buffer
	if _, err := w.WriteTo(&out); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	again, err := Parse(out.Bytes())
	if err != nil {
		t.Fatalf("reparse: %v", err)
	}
	if len(again.KVs) != len(file.KVs) || len(again.Tensors) != len(file.Tensors) {
		t.Fatalf("rewrite changed counts")
	}
	for i, ti := range again.Tensors {
		a, _ := again.TensorData(ti)
		b, _ := file.TensorData(file.Tensors[i])
		if !bytes.Equal(a, b) || !reflect.DeepEqual(ti.Dims, file.Tensors[i].Dims) {
			t.Fatalf("rewrite changed tensor %s", ti.Name)
		}
	}
}

// BenchmarkParse parses a header shaped like a real model's: a 150k-entry
// vocabulary with scores, token types and merges, and 300 tensor infos.
func BenchmarkParse(b *testing.B) {
	const vocab = 150000
	w := NewWriter(3)
	tokens := make([]string, vocab)
	merges := make([]string, vocab)
	scores := make([]float32, vocab)
	types := make([]int32, vocab)
	for i := range tokens {
		tokens[i] = "tok" + strings.Repeat("x", i%7) + string(rune('a'+i%26))
		merges[i] = "a " + tokens[i]
	}
	_ = w.AddKV("general.architecture", "llama")
	_ = w.AddKV("tokenizer.ggml.tokens", tokens)
	_ = w.AddKV("tokenizer.ggml.merges", merges)
	_ = w.AddKV("tokenizer.ggml.scores", scores)
	_ = w.AddKV("tokenizer.ggml.token_type", types)
	data := make([]byte, 34)
	for i := range 300 {
		_ = w.AddTensor("blk."+strings.Repeat("w", i%40)+string(rune('A'+i%26))+string(rune('a'+i/26)), TypeQ8_0, []uint64{32}, data)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := Parse(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
