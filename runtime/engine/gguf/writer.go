package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// MaxTensorName is the longest tensor name, in bytes, that ggml accepts.
const MaxTensorName = 63

// Writer builds a GGUF file in memory order: header, metadata, tensor infos,
// padding, then the tensor data, each tensor padded to the alignment. Tensor
// data is referenced, not copied, until WriteTo.
type Writer struct {
	version   uint32
	alignment uint64
	kvs       []KV
	keys      map[string]int
	tensors   []TensorInfo
	data      [][]byte
	names     map[string]bool
	err       error
}

// NewWriter returns a Writer for the given format version (2 or 3; 3 is
// current). An unsupported version is reported by WriteTo.
func NewWriter(version uint32) *Writer {
	w := &Writer{
		version:   version,
		alignment: DefaultAlignment,
		keys:      map[string]int{},
		names:     map[string]bool{},
	}
	if version != 2 && version != 3 {
		w.err = fmt.Errorf("gguf: cannot write version %d, only 2 and 3", version)
	}
	return w
}

// SetAlignment sets the data alignment. Values other than the default 32
// are recorded as "general.alignment" (uint32). It must be a power of two;
// an invalid value is reported by WriteTo.
func (w *Writer) SetAlignment(a uint64) {
	w.alignment = a
	if i, ok := w.keys[KeyAlignment]; ok {
		w.kvs[i].Value = uint32(a)
	}
}

// AddKV appends a metadata pair. v must be one of the types listed on KV;
// arrays of arrays are []any whose elements are such slices. Adding
// "general.alignment" (a uint32) also sets the alignment.
func (w *Writer) AddKV(key string, v any) error {
	if key == "" {
		return errors.New("gguf: empty metadata key")
	}
	if _, dup := w.keys[key]; dup {
		return fmt.Errorf("gguf: duplicate metadata key %q", key)
	}
	if err := checkValue(v, 0); err != nil {
		return fmt.Errorf("gguf: key %q: %w", key, err)
	}
	if key == KeyAlignment {
		a, ok := v.(uint32)
		if !ok || a == 0 || a&(a-1) != 0 || a > maxAlignment {
			return fmt.Errorf("gguf: key %q must be a uint32 power of two up to %d, got %v (%s)", key, maxAlignment, v, typeName(v))
		}
		w.alignment = uint64(a)
	}
	w.keys[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{Key: key, Value: v})
	return nil
}

// AddTensor appends a tensor. dims are in ggml order (dims[0] is the row
// length) and data must hold exactly the bytes that type and dims require.
func (w *Writer) AddTensor(name string, t Type, dims []uint64, data []byte) error {
	if name == "" || len(name) > MaxTensorName {
		return fmt.Errorf("gguf: tensor name %q must be 1 to %d bytes", name, MaxTensorName)
	}
	if w.names[name] {
		return fmt.Errorf("gguf: duplicate tensor name %q", name)
	}
	size, err := tensorSize(t, dims)
	if err != nil {
		return fmt.Errorf("gguf: tensor %q (type %s, dims %v): %w", name, t, dims, err)
	}
	if uint64(len(data)) != size {
		return fmt.Errorf("gguf: tensor %q (type %s, dims %v): got %d bytes of data, want %d", name, t, dims, len(data), size)
	}
	w.names[name] = true
	w.tensors = append(w.tensors, TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: t, Size: size})
	w.data = append(w.data, data)
	return nil
}

// WriteTo writes the file to out and returns the number of bytes written.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	a := w.alignment
	if a == 0 || a&(a-1) != 0 || a > maxAlignment {
		return 0, fmt.Errorf("gguf: alignment %d is not a power of two up to %d", a, maxAlignment)
	}
	kvs := w.kvs
	if _, ok := w.keys[KeyAlignment]; !ok && a != DefaultAlignment {
		kvs = append(kvs[:len(kvs):len(kvs)], KV{Key: KeyAlignment, Value: uint32(a)})
	}
	off := uint64(0)
	for i := range w.tensors {
		w.tensors[i].Offset = off
		off += alignUp(w.tensors[i].Size, a)
	}

	bw := bufio.NewWriterSize(out, 1<<16)
	cw := &countWriter{w: bw}
	e := &encoder{w: cw}
	e.raw([]byte(Magic))
	e.u32(w.version)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.str(kv.Key)
		vt, _, _ := valueTypeOf(kv.Value)
		e.u32(uint32(vt))
		e.value(kv.Value)
	}
	for _, t := range w.tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(t.Offset)
	}
	e.pad(a)
	for i := range w.tensors {
		e.raw(w.data[i])
		e.pad(a)
	}
	if e.err == nil {
		e.err = bw.Flush()
	}
	return cw.n, e.err
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// checkValue verifies that v has a type the encoder supports.
func checkValue(v any, depth int) error {
	vt, elem, ok := valueTypeOf(v)
	if !ok {
		return fmt.Errorf("unsupported value type %T (use a sized integer, float32/64, bool, string or a slice of those)", v)
	}
	if vt != ValueArray || elem != ValueArray {
		return nil
	}
	if depth >= maxArrayDepth-1 {
		return fmt.Errorf("arrays nested deeper than %d levels", maxArrayDepth)
	}
	for i, e := range v.([]any) {
		if t, _, ok := valueTypeOf(e); !ok || t != ValueArray {
			return fmt.Errorf("element %d of an array of arrays is %T, want a slice", i, e)
		}
		if err := checkValue(e, depth+1); err != nil {
			return err
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes little-endian values and remembers the first error.
type encoder struct {
	w   *countWriter
	err error
	buf [8]byte
}

func (e *encoder) raw(b []byte) {
	if e.err == nil {
		_, e.err = e.w.Write(b)
	}
}

func (e *encoder) u8(v uint8) { e.buf[0] = v; e.raw(e.buf[:1]) }
func (e *encoder) u16(v uint16) {
	binary.LittleEndian.PutUint16(e.buf[:], v)
	e.raw(e.buf[:2])
}
func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:], v)
	e.raw(e.buf[:4])
}
func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:], v)
	e.raw(e.buf[:8])
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	if e.err == nil {
		_, e.err = io.WriteString(e.w, s)
	}
}

func (e *encoder) pad(a uint64) {
	var zeros [64]byte
	for n := (a - uint64(e.w.n)%a) % a; n > 0 && e.err == nil; {
		k := min(n, uint64(len(zeros)))
		e.raw(zeros[:k])
		n -= k
	}
}

func (e *encoder) bool(b bool) {
	if b {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// value writes a value body (without its type tag).
func (e *encoder) value(v any) {
	switch x := v.(type) {
	case uint8:
		e.u8(x)
	case int8:
		e.u8(uint8(x))
	case uint16:
		e.u16(x)
	case int16:
		e.u16(uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float32:
		e.u32(math.Float32bits(x))
	case float64:
		e.u64(math.Float64bits(x))
	case bool:
		e.bool(x)
	case string:
		e.str(x)
	default:
		e.array(v)
	}
}

// array writes an array body: element type, length and elements.
func (e *encoder) array(v any) {
	_, elem, _ := valueTypeOf(v)
	e.u32(uint32(elem))
	switch x := v.(type) {
	case []uint8:
		e.u64(uint64(len(x)))
		e.raw(x)
	case []int8:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u8(uint8(y))
		}
	case []uint16:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u16(y)
		}
	case []int16:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u16(uint16(y))
		}
	case []uint32:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u32(y)
		}
	case []int32:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u32(uint32(y))
		}
	case []uint64:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u64(y)
		}
	case []int64:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u64(uint64(y))
		}
	case []float32:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u32(math.Float32bits(y))
		}
	case []float64:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.u64(math.Float64bits(y))
		}
	case []bool:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.bool(y)
		}
	case []string:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.str(y)
		}
	case []any:
		e.u64(uint64(len(x)))
		for _, y := range x {
			e.array(y)
		}
	}
}
