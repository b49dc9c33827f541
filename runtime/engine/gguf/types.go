// Package gguf reads, writes and decodes GGUF model files, the single-file
// format used by ggml-based inference engines for llama-family models.
//
// A GGUF file is little-endian and laid out as:
//
//	magic "GGUF" | version uint32 | tensor count uint64 | metadata count uint64
//	metadata key/value pairs (key string, value type uint32, value)
//	tensor infos (name string, n_dims uint32, dims [n_dims]uint64, type uint32, offset uint64)
//	zero padding up to the alignment (metadata "general.alignment", default 32)
//	tensor data; each tensor starts at an aligned offset relative to the data section
//
// Strings are a uint64 byte length followed by UTF-8 bytes without terminator.
// Arrays are an element value type uint32, a uint64 count and the elements.
//
// Open memory-maps a file read-only; Parse does the same work over a byte
// slice. Both validate the whole header: sizes larger than the remaining
// input, misaligned or overlapping tensor data and unknown tensor types are
// reported as errors that name the byte offset, key or tensor involved.
//
// Quantize produces F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K data;
// Dequantize and DotRow also read Q4_1, Q5_0, Q5_1, Q2_K, Q3_K and Q5_K.
// DotRow is the fused dequantize-and-dot kernel used by matrix-vector
// products and does not allocate. Other ggml types (the IQ formats, for
// example) are sized and parsed but cannot be decoded.
//
// Writer produces files in the layout ggml itself writes: version 3,
// metadata, tensor infos, zero padding to the alignment, and each tensor's
// data padded to the alignment.
package gguf

import (
	"fmt"
)

// Type is a ggml tensor element type id as stored in GGUF tensor infos.
type Type uint32

// Tensor types with their official ggml ids. Ids 4, 5 and 31-33, 36-38
// belonged to formats removed from ggml and are rejected.
const (
	TypeF32     Type = 0
	TypeF16     Type = 1
	TypeQ4_0    Type = 2
	TypeQ4_1    Type = 3
	TypeQ5_0    Type = 6
	TypeQ5_1    Type = 7
	TypeQ8_0    Type = 8
	TypeQ8_1    Type = 9
	TypeQ2_K    Type = 10
	TypeQ3_K    Type = 11
	TypeQ4_K    Type = 12
	TypeQ5_K    Type = 13
	TypeQ6_K    Type = 14
	TypeQ8_K    Type = 15
	TypeIQ2_XXS Type = 16
	TypeIQ2_XS  Type = 17
	TypeIQ3_XXS Type = 18
	TypeIQ1_S   Type = 19
	TypeIQ4_NL  Type = 20
	TypeIQ3_S   Type = 21
	TypeIQ2_S   Type = 22
	TypeIQ4_XS  Type = 23
	TypeI8      Type = 24
	TypeI16     Type = 25
	TypeI32     Type = 26
	TypeI64     Type = 27
	TypeF64     Type = 28
	TypeIQ1_M   Type = 29
	TypeBF16    Type = 30
	TypeTQ1_0   Type = 34
	TypeTQ2_0   Type = 35
	TypeMXFP4   Type = 39
	TypeNVFP4   Type = 40
	TypeQ1_0    Type = 41
	TypeQ2_0    Type = 42
)

// Short aliases for the types the engine computes with.
const (
	F32  = TypeF32
	F16  = TypeF16
	Q4_0 = TypeQ4_0
	Q8_0 = TypeQ8_0
	Q4_K = TypeQ4_K
	Q6_K = TypeQ6_K
	BF16 = TypeBF16
)

// Block geometry of the quantized formats.
const (
	qk       = 32  // elements per Q4_0 / Q8_0 block
	qkK      = 256 // elements per K-quant super-block
	sizeQ4_0 = 2 + qk/2
	sizeQ8_0 = 2 + qk
	sizeQ4_K = 2 + 2 + 12 + qkK/2
	sizeQ6_K = qkK/2 + qkK/4 + qkK/16 + 2
)

type typeTraits struct {
	name      string
	blockSize int
	typeSize  int
}

var traits = map[Type]typeTraits{
	TypeF32:     {"F32", 1, 4},
	TypeF16:     {"F16", 1, 2},
	TypeQ4_0:    {"Q4_0", qk, sizeQ4_0},
	TypeQ4_1:    {"Q4_1", qk, 4 + qk/2},
	TypeQ5_0:    {"Q5_0", qk, 2 + 4 + qk/2},
	TypeQ5_1:    {"Q5_1", qk, 4 + 4 + qk/2},
	TypeQ8_0:    {"Q8_0", qk, sizeQ8_0},
	TypeQ8_1:    {"Q8_1", qk, 4 + qk},
	TypeQ2_K:    {"Q2_K", qkK, qkK/16 + qkK/4 + 4},
	TypeQ3_K:    {"Q3_K", qkK, qkK/8 + qkK/4 + 12 + 2},
	TypeQ4_K:    {"Q4_K", qkK, sizeQ4_K},
	TypeQ5_K:    {"Q5_K", qkK, 4 + 12 + qkK/8 + qkK/2},
	TypeQ6_K:    {"Q6_K", qkK, sizeQ6_K},
	TypeQ8_K:    {"Q8_K", qkK, 4 + qkK + 2*qkK/16},
	TypeIQ2_XXS: {"IQ2_XXS", qkK, 2 + qkK/4},
	TypeIQ2_XS:  {"IQ2_XS", qkK, 2 + qkK/4 + qkK/32},
	TypeIQ3_XXS: {"IQ3_XXS", qkK, 2 + 3*qkK/8},
	TypeIQ1_S:   {"IQ1_S", qkK, 2 + qkK/8 + qkK/16},
	TypeIQ4_NL:  {"IQ4_NL", qk, 2 + qk/2},
	TypeIQ3_S:   {"IQ3_S", qkK, 2 + qkK/4 + qkK/32 + qkK/8 + qkK/64},
	TypeIQ2_S:   {"IQ2_S", qkK, 2 + qkK/4 + qkK/32 + qkK/32},
	TypeIQ4_XS:  {"IQ4_XS", qkK, 2 + 2 + qkK/64 + qkK/2},
	TypeI8:      {"I8", 1, 1},
	TypeI16:     {"I16", 1, 2},
	TypeI32:     {"I32", 1, 4},
	TypeI64:     {"I64", 1, 8},
	TypeF64:     {"F64", 1, 8},
	TypeIQ1_M:   {"IQ1_M", qkK, qkK/8 + qkK/16 + qkK/32},
	TypeBF16:    {"BF16", 1, 2},
	TypeTQ1_0:   {"TQ1_0", qkK, 2 + (qkK-4*qkK/64)/5 + qkK/64},
	TypeTQ2_0:   {"TQ2_0", qkK, 2 + 64},
	TypeMXFP4:   {"MXFP4", qk, 1 + qk/2},
	TypeNVFP4:   {"NVFP4", 64, 4 + 64/2},
	TypeQ1_0:    {"Q1_0", 128, 2 + 128/8},
	TypeQ2_0:    {"Q2_0", 64, 2 + 64/4},
}

// Known reports whether t is a tensor type this package can size.
func (t Type) Known() bool {
	_, ok := traits[t]
	return ok
}

// String returns the ggml name of the type ("Q4_K"), or "type(N)" if unknown.
func (t Type) String() string {
	if tr, ok := traits[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// BlockSize returns the number of elements per block, or 0 if t is unknown.
func (t Type) BlockSize() int { return traits[t].blockSize }

// TypeSize returns the number of bytes per block, or 0 if t is unknown.
func (t Type) TypeSize() int { return traits[t].typeSize }

// RowSize returns the number of bytes that n elements of type t occupy. It
// fails if t is unknown, n is negative or n is not a multiple of the block
// size.
func RowSize(t Type, n int) (int, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("gguf: unknown tensor type id %d", uint32(t))
	}
	if n < 0 || n%tr.blockSize != 0 {
		return 0, fmt.Errorf("gguf: %d elements is not a multiple of the %s block size %d", n, tr.name, tr.blockSize)
	}
	return n / tr.blockSize * tr.typeSize, nil
}

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types.
const (
	ValueUint8   ValueType = 0
	ValueInt8    ValueType = 1
	ValueUint16  ValueType = 2
	ValueInt16   ValueType = 3
	ValueUint32  ValueType = 4
	ValueInt32   ValueType = 5
	ValueFloat32 ValueType = 6
	ValueBool    ValueType = 7
	ValueString  ValueType = 8
	ValueArray   ValueType = 9
	ValueUint64  ValueType = 10
	ValueInt64   ValueType = 11
	ValueFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the lower-case name of the value type.
func (v ValueType) String() string {
	if int(v) < len(valueTypeNames) {
		return valueTypeNames[v]
	}
	return fmt.Sprintf("value_type(%d)", uint32(v))
}

// size returns the encoded size of a fixed-size value type, 0 for string and
// array, -1 for unknown types.
func (v ValueType) size() int {
	switch v {
	case ValueUint8, ValueInt8, ValueBool:
		return 1
	case ValueUint16, ValueInt16:
		return 2
	case ValueUint32, ValueInt32, ValueFloat32:
		return 4
	case ValueUint64, ValueInt64, ValueFloat64:
		return 8
	case ValueString, ValueArray:
		return 0
	}
	return -1
}

// KV is one metadata key/value pair. Value holds one of uint8, int8, uint16,
// int16, uint32, int32, uint64, int64, float32, float64, bool, string, a
// typed slice of those ([]uint8 ... []string), or []any for an array of
// arrays whose elements are again such slices.
type KV struct {
	Key   string
	Value any
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name string
	// Dims are in ggml order: Dims[0] (ne[0]) is the contiguous, fastest
	// varying dimension, i.e. the row length of a weight matrix.
	Dims []uint64
	Type Type
	// Offset is the start of the data relative to the data section.
	Offset uint64
	// Size is the data size in bytes, computed from Dims and Type.
	Size uint64
}

// NumElements returns the product of the dimensions.
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// tensorSize computes the byte size of a tensor, guarding against overflow.
func tensorSize(t Type, dims []uint64) (uint64, error) {
	tr, ok := traits[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type id %d", uint32(t))
	}
	if len(dims) == 0 || len(dims) > maxDims {
		return 0, fmt.Errorf("%d dimensions, want 1 to %d", len(dims), maxDims)
	}
	const limit = 1 << 62
	n := uint64(1)
	for i, d := range dims {
		if d == 0 {
			return 0, fmt.Errorf("dimension %d is zero", i)
		}
		if d > limit/n {
			return 0, fmt.Errorf("element count overflows")
		}
		n *= d
	}
	if dims[0]%uint64(tr.blockSize) != 0 {
		return 0, fmt.Errorf("row length %d is not a multiple of the %s block size %d", dims[0], tr.name, tr.blockSize)
	}
	blocks := n / uint64(tr.blockSize)
	if blocks > limit/uint64(tr.typeSize) {
		return 0, fmt.Errorf("byte size overflows")
	}
	return blocks * uint64(tr.typeSize), nil
}

const maxDims = 4
