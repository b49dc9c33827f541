package gguf

import (
	"fmt"
	"math"
)

// Get returns the metadata value stored under key.
func (f *File) Get(key string) (any, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return nil, false
	}
	return f.KVs[i].Value, true
}

func (f *File) lookup(key string) (any, error) {
	v, ok := f.Get(key)
	if !ok {
		return nil, fmt.Errorf("gguf: key %q: %w", key, ErrKeyNotFound)
	}
	return v, nil
}

func typeErr(key string, v any, want string) error {
	return fmt.Errorf("gguf: key %q is %s, want %s", key, typeName(v), want)
}

// String returns the string value of key.
func (f *File) String(key string) (string, error) { return lookupAs[string](f, key, "string") }

// lookupAs returns the value of key, which must have type T; want names
// the type in the error.
func lookupAs[T any](f *File, key, want string) (T, error) {
	var zero T
	v, err := f.lookup(key)
	if err != nil {
		return zero, err
	}
	x, ok := v.(T)
	if !ok {
		return zero, typeErr(key, v, want)
	}
	return x, nil
}

// Uint returns the value of key, which may have any integer type, as a
// uint64. Negative values are an error.
func (f *File) Uint(key string) (uint64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	u, ok := asUint(v)
	if !ok {
		if i, signed := asInt(v); signed && i < 0 {
			return 0, fmt.Errorf("gguf: key %q is negative (%d), want an unsigned integer", key, i)
		}
		return 0, typeErr(key, v, "an integer")
	}
	return u, nil
}

// Float returns the value of key, which may have a float or integer type,
// as a float64.
func (f *File) Float(key string) (float64, error) {
	v, err := f.lookup(key)
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case float32:
		return float64(x), nil
	case float64:
		return x, nil
	}
	if u, ok := asUint(v); ok {
		return float64(u), nil
	}
	if i, ok := asInt(v); ok {
		return float64(i), nil
	}
	return 0, typeErr(key, v, "a number")
}

// Bool returns the bool value of key.
func (f *File) Bool(key string) (bool, error) { return lookupAs[bool](f, key, "bool") }

// Strings returns the string array value of key. The slice is shared with
// the File and must not be modified.
func (f *File) Strings(key string) ([]string, error) {
	return lookupAs[[]string](f, key, "array of string")
}

// Float32s returns the float array value of key as float32s. A float32
// array is returned as stored (shared, must not be modified); a float64
// array is converted.
func (f *File) Float32s(key string) ([]float32, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case []float32:
		return x, nil
	case []float64:
		out := make([]float32, len(x))
		for i, e := range x {
			out[i] = float32(e)
		}
		return out, nil
	}
	return nil, typeErr(key, v, "array of float32")
}

// Int32s returns the integer array value of key as int32s. An int32 array
// is returned as stored (shared, must not be modified); other integer
// arrays are converted if every element fits in an int32.
func (f *File) Int32s(key string) ([]int32, error) {
	v, err := f.lookup(key)
	if err != nil {
		return nil, err
	}
	if x, ok := v.([]int32); ok {
		return x, nil
	}
	var out []int32
	conv := func(n int, at func(int) (int64, bool)) error {
		out = make([]int32, n)
		for i := range out {
			e, ok := at(i)
			if !ok || e < math.MinInt32 || e > math.MaxInt32 {
				return fmt.Errorf("gguf: key %q: element %d does not fit in an int32", key, i)
			}
			out[i] = int32(e)
		}
		return nil
	}
	switch x := v.(type) {
	case []int8:
		err = conv(len(x), func(i int) (int64, bool) { return int64(x[i]), true })
	case []uint8:
		err = conv(len(x), func(i int) (int64, bool) { return int64(x[i]), true })
	case []int16:
		err = conv(len(x), func(i int) (int64, bool) { return int64(x[i]), true })
	case []uint16:
		err = conv(len(x), func(i int) (int64, bool) { return int64(x[i]), true })
	case []uint32:
		err = conv(len(x), func(i int) (int64, bool) { return int64(x[i]), true })
	case []int64:
		err = conv(len(x), func(i int) (int64, bool) { return x[i], true })
	case []uint64:
		err = conv(len(x), func(i int) (int64, bool) { return int64(x[i]), x[i] <= math.MaxInt64 })
	default:
		return nil, typeErr(key, v, "array of int32")
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Architecture returns the "general.architecture" value, or "" if absent.
func (f *File) Architecture() string {
	s, _ := f.String("general.architecture")
	return s
}

// Tensor returns the info of the named tensor.
func (f *File) Tensor(name string) (TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.Tensors[i], true
}

// TensorData returns the raw bytes of t, a slice of the parsed input (the
// memory map for files from Open) that must not be modified and is invalid
// after Close.
func (f *File) TensorData(t TensorInfo) ([]byte, error) {
	if f.data == nil {
		return nil, fmt.Errorf("gguf: tensor %q: file is closed", t.Name)
	}
	avail := uint64(len(f.data)) - min(f.DataOffset, uint64(len(f.data)))
	if t.Offset > avail || t.Size > avail-t.Offset {
		return nil, fmt.Errorf("gguf: tensor %q: data [%d, %d) is outside the %d-byte data section", t.Name, t.Offset, t.Offset+t.Size, avail)
	}
	start := f.DataOffset + t.Offset
	return f.data[start : start+t.Size : start+t.Size], nil
}

// TensorF32 returns a dequantized float32 copy of the named tensor and its
// dimensions (ggml order, Dims[0] fastest).
func (f *File) TensorF32(name string) ([]float32, []uint64, error) {
	t, ok := f.Tensor(name)
	if !ok {
		return nil, nil, fmt.Errorf("gguf: tensor %q not found", name)
	}
	if !CanDequantize(t.Type) {
		return nil, nil, fmt.Errorf("gguf: tensor %q: dequantizing type %s is not supported", name, t.Type)
	}
	n := t.NumElements()
	if n > math.MaxInt/4 {
		return nil, nil, fmt.Errorf("gguf: tensor %q: %d elements is too many to dequantize into memory", name, n)
	}
	data, err := f.TensorData(t)
	if err != nil {
		return nil, nil, err
	}
	out := make([]float32, n)
	if err := Dequantize(t.Type, data, out); err != nil {
		return nil, nil, fmt.Errorf("gguf: tensor %q: %w", name, err)
	}
	return out, append([]uint64(nil), t.Dims...), nil
}

// asUint converts any non-negative integer value to uint64.
func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := asInt(v); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

// asInt converts a signed integer value to int64.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// typeName names the GGUF type of a metadata value for error messages.
func typeName(v any) string {
	vt, elem, ok := valueTypeOf(v)
	if !ok {
		return fmt.Sprintf("unsupported Go type %T", v)
	}
	if vt == ValueArray {
		if elem == ValueArray {
			return "array of array"
		}
		return "array of " + elem.String()
	}
	return vt.String()
}

// valueTypeOf maps a Go value to its GGUF value type and, for arrays, the
// element type.
func valueTypeOf(v any) (vt, elem ValueType, ok bool) {
	switch v.(type) {
	case uint8:
		return ValueUint8, 0, true
	case int8:
		return ValueInt8, 0, true
	case uint16:
		return ValueUint16, 0, true
	case int16:
		return ValueInt16, 0, true
	case uint32:
		return ValueUint32, 0, true
	case int32:
		return ValueInt32, 0, true
	case uint64:
		return ValueUint64, 0, true
	case int64:
		return ValueInt64, 0, true
	case float32:
		return ValueFloat32, 0, true
	case float64:
		return ValueFloat64, 0, true
	case bool:
		return ValueBool, 0, true
	case string:
		return ValueString, 0, true
	case []uint8:
		return ValueArray, ValueUint8, true
	case []int8:
		return ValueArray, ValueInt8, true
	case []uint16:
		return ValueArray, ValueUint16, true
	case []int16:
		return ValueArray, ValueInt16, true
	case []uint32:
		return ValueArray, ValueUint32, true
	case []int32:
		return ValueArray, ValueInt32, true
	case []uint64:
		return ValueArray, ValueUint64, true
	case []int64:
		return ValueArray, ValueInt64, true
	case []float32:
		return ValueArray, ValueFloat32, true
	case []float64:
		return ValueArray, ValueFloat64, true
	case []bool:
		return ValueArray, ValueBool, true
	case []string:
		return ValueArray, ValueString, true
	case []any:
		return ValueArray, ValueArray, true
	}
	return 0, 0, false
}
