package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
)

// Magic is the 4-byte signature at the start of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment used when a file has no
// "general.alignment" metadata.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that overrides the data alignment.
const KeyAlignment = "general.alignment"

// Limits on the structure of a file. They exist so that a corrupt header
// fails cleanly instead of recursing or allocating without bound.
const (
	maxArrayDepth = 16
	maxAlignment  = 1 << 30
	minKVSize     = 8 + 4 + 1         // empty key, type, one-byte value
	minTensorInfo = 8 + 4 + 8 + 4 + 8 // empty name, n_dims, one dim, type, offset
)

// ErrKeyNotFound is wrapped by the typed metadata accessors when a key is
// absent, so that callers can treat optional keys with errors.Is.
var ErrKeyNotFound = errors.New("metadata key not found")

// FormatError reports malformed input at a byte offset.
type FormatError struct {
	Offset int64  // byte offset in the file where the problem was found
	Msg    string // what is wrong, naming the key or tensor involved
}

// Error formats the offset and message.
func (e *FormatError) Error() string {
	return fmt.Sprintf("gguf: at byte %d: %s", e.Offset, e.Msg)
}

// File is a parsed GGUF file. Its metadata is copied out of the input; its
// tensor data is not: TensorData returns slices of the input (of the memory
// map for files from Open), which stay valid until Close. A File is safe for
// concurrent use by multiple goroutines, except Close.
type File struct {
	// Version is the format version, 2 or 3.
	Version uint32
	// KVs holds the metadata in file order.
	KVs []KV
	// Tensors holds the tensor infos in file order.
	Tensors []TensorInfo
	// Alignment is the data alignment in bytes (a power of two).
	Alignment uint64
	// DataOffset is the absolute file offset of the tensor data section.
	DataOffset uint64

	data        []byte
	unmap       func() error
	kvIndex     map[string]int
	tensorIndex map[string]int
}

// Open memory-maps the file at path read-only and parses it. The caller
// must Close the returned File; tensor data slices are invalid afterwards.
// Where memory mapping is unavailable the file is read into memory instead.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	size := st.Size()
	if size < 4 {
		return nil, fmt.Errorf("gguf: %s: file of %d bytes is too short for a GGUF header", path, size)
	}
	if uint64(size) > math.MaxInt {
		return nil, fmt.Errorf("gguf: %s: file of %d bytes is too large to map", path, size)
	}
	data, unmap, err := mapFile(fd, int(size))
	if err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		_ = unmap()
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	f.unmap = unmap
	return f, nil
}

// Close releases the memory map of a File from Open. It is safe to call more
// than once and must not run concurrently with other use of the File.
func (f *File) Close() error {
	f.data = nil
	if f.unmap == nil {
		return nil
	}
	unmap := f.unmap
	f.unmap = nil
	if err := unmap(); err != nil {
		return fmt.Errorf("gguf: unmap: %w", err)
	}
	return nil
}

// Parse parses a complete GGUF file held in data. The File keeps a reference
// to data for TensorData; data must not be modified while the File is used.
func Parse(data []byte) (*File, error) {
	d := &decoder{data: data}
	if len(data) < 4 {
		return nil, d.errf("file of %d bytes is too short for the magic", len(data))
	}
	if string(data[:4]) != Magic {
		return nil, d.errf("bad magic %q, want %q", data[:4], Magic)
	}
	d.off = 4
	version, err := d.u32(func() string { return "version" })
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, &FormatError{4, "unsupported version 1 (only versions 2 and 3 are supported)"}
	case version == 2<<24 || version == 3<<24:
		return nil, &FormatError{4, fmt.Sprintf("unsupported version %d: big-endian GGUF files are not supported", version>>24)}
	default:
		return nil, &FormatError{4, fmt.Sprintf("unsupported version %d (only versions 2 and 3 are supported)", version)}
	}
	nTensors, err := d.u64(func() string { return "tensor count" })
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64(func() string { return "metadata count" })
	if err != nil {
		return nil, err
	}
	if nKV > uint64(d.remaining())/minKVSize {
		return nil, d.errf("metadata count %d exceeds what the remaining %d bytes can hold", nKV, d.remaining())
	}
	if nTensors > uint64(d.remaining())/minTensorInfo {
		return nil, d.errf("tensor count %d exceeds what the remaining %d bytes can hold", nTensors, d.remaining())
	}

	f := &File{
		Version:     version,
		Alignment:   DefaultAlignment,
		data:        data,
		KVs:         make([]KV, 0, nKV),
		kvIndex:     make(map[string]int, nKV),
		Tensors:     make([]TensorInfo, 0, nTensors),
		tensorIndex: make(map[string]int, nTensors),
	}
	for i := uint64(0); i < nKV; i++ {
		start := d.off
		key, err := d.str(func() string { return fmt.Sprintf("key of metadata entry %d", i) })
		if err != nil {
			return nil, err
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, &FormatError{int64(start), fmt.Sprintf("duplicate metadata key %q", key)}
		}
		vt, err := d.u32(func() string { return fmt.Sprintf("value type of key %q", key) })
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(vt), key, 0)
		if err != nil {
			return nil, err
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	if v, ok := f.Get(KeyAlignment); ok {
		a, ok := asUint(v)
		if !ok || a == 0 || a&(a-1) != 0 || a > maxAlignment {
			return nil, d.errf("%s = %v (%s) is not a power of two up to %d", KeyAlignment, v, typeName(v), maxAlignment)
		}
		f.Alignment = a
	}

	for i := uint64(0); i < nTensors; i++ {
		start := d.off
		name, err := d.str(func() string { return fmt.Sprintf("name of tensor %d", i) })
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensorIndex[name]; dup {
			return nil, &FormatError{int64(start), fmt.Sprintf("duplicate tensor name %q", name)}
		}
		nDims, err := d.u32(func() string { return fmt.Sprintf("dimension count of tensor %q", name) })
		if err != nil {
			return nil, err
		}
		if nDims == 0 || nDims > maxDims {
			return nil, d.errf("tensor %q has %d dimensions, want 1 to %d", name, nDims, maxDims)
		}
		dims := make([]uint64, nDims)
		for j := range dims {
			if dims[j], err = d.u64(func() string { return fmt.Sprintf("dimension %d of tensor %q", j, name) }); err != nil {
				return nil, err
			}
		}
		typ, err := d.u32(func() string { return fmt.Sprintf("type of tensor %q", name) })
		if err != nil {
			return nil, err
		}
		offset, err := d.u64(func() string { return fmt.Sprintf("data offset of tensor %q", name) })
		if err != nil {
			return nil, err
		}
		size, err := tensorSize(Type(typ), dims)
		if err != nil {
			return nil, &FormatError{int64(start), fmt.Sprintf("tensor %q (type %s, dims %v): %v", name, Type(typ), dims, err)}
		}
		if offset%f.Alignment != 0 {
			return nil, &FormatError{int64(start), fmt.Sprintf("tensor %q: data offset %d is not a multiple of the alignment %d", name, offset, f.Alignment)}
		}
		f.tensorIndex[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, TensorInfo{Name: name, Dims: dims, Type: Type(typ), Offset: offset, Size: size})
	}

	// The data section starts at the next aligned offset. A file without
	// tensors may end before the padding.
	pad := (f.Alignment - uint64(d.off)%f.Alignment) % f.Alignment
	f.DataOffset = uint64(d.off) + pad
	if len(f.Tensors) == 0 {
		return f, nil
	}
	if f.DataOffset > uint64(len(data)) {
		return nil, d.errf("file ends at byte %d, before the data section at byte %d", len(data), f.DataOffset)
	}
	avail := uint64(len(data)) - f.DataOffset
	for _, t := range f.Tensors {
		if t.Offset > avail || t.Size > avail-t.Offset {
			return nil, &FormatError{int64(f.DataOffset + min(t.Offset, avail)), fmt.Sprintf("tensor %q: data [%d, %d) of the data section extends past its end at %d", t.Name, t.Offset, t.Offset+t.Size, avail)}
		}
	}
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	for i := 1; i < len(order); i++ {
		prev, cur := f.Tensors[order[i-1]], f.Tensors[order[i]]
		if prev.Offset+prev.Size > cur.Offset {
			return nil, &FormatError{int64(f.DataOffset + cur.Offset), fmt.Sprintf("tensor %q data [%d, %d) overlaps tensor %q data [%d, %d)", cur.Name, cur.Offset, cur.Offset+cur.Size, prev.Name, prev.Offset, prev.Offset+prev.Size)}
		}
	}
	return f, nil
}

// decoder reads little-endian values from data with bounds checks. Its
// readers take what they read as a func, called only to describe an error:
// formatting it for every field read was most of the cost of Parse.
type decoder struct {
	data []byte
	off  int
}

func (d *decoder) remaining() int { return len(d.data) - d.off }

func (d *decoder) errf(format string, args ...any) error {
	return &FormatError{Offset: int64(d.off), Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) take(n int, what func() string) ([]byte, error) {
	if n > d.remaining() {
		return nil, d.errf("%s needs %d bytes, only %d remain", what(), n, d.remaining())
	}
	b := d.data[d.off : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) u32(what func() string) (uint32, error) {
	b, err := d.take(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what func() string) (uint64, error) {
	b, err := d.take(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

func (d *decoder) str(what func() string) (string, error) {
	if s, ok := d.tryStr(); ok {
		return s, nil
	}
	return "", d.strErr(what)
}

// tryStr reads a string, or leaves the offset unchanged and reports false.
func (d *decoder) tryStr() (string, bool) {
	if d.remaining() < 8 {
		return "", false
	}
	n := binary.LittleEndian.Uint64(d.data[d.off:])
	if n > uint64(d.remaining()-8) {
		return "", false
	}
	start := d.off + 8
	d.off = start + int(n)
	return string(d.data[start:d.off]), true
}

// strErr describes why tryStr failed at the current offset.
func (d *decoder) strErr(what func() string) error {
	if d.remaining() < 8 {
		return d.errf("length of %s needs 8 bytes, only %d remain", what(), d.remaining())
	}
	n := binary.LittleEndian.Uint64(d.data[d.off:])
	return d.errf("length %d of %s exceeds the %d bytes that follow", n, what(), d.remaining()-8)
}

// value decodes one metadata value of type vt belonging to key.
func (d *decoder) value(vt ValueType, key string, depth int) (any, error) {
	if sz := vt.size(); sz > 0 {
		b, err := d.take(sz, func() string { return fmt.Sprintf("%s value of key %q", vt, key) })
		if err != nil {
			return nil, err
		}
		return scalar(vt, b, d, key)
	}
	switch vt {
	case ValueString:
		return d.str(func() string { return fmt.Sprintf("string value of key %q", key) })
	case ValueArray:
		return d.array(key, depth+1)
	}
	d.off -= 4
	return nil, d.errf("key %q has unknown value type %d", key, uint32(vt))
}

func scalar(vt ValueType, b []byte, d *decoder, key string) (any, error) {
	le := binary.LittleEndian
	switch vt {
	case ValueUint8:
		return b[0], nil
	case ValueInt8:
		return int8(b[0]), nil
	case ValueUint16:
		return le.Uint16(b), nil
	case ValueInt16:
		return int16(le.Uint16(b)), nil
	case ValueUint32:
		return le.Uint32(b), nil
	case ValueInt32:
		return int32(le.Uint32(b)), nil
	case ValueFloat32:
		return math.Float32frombits(le.Uint32(b)), nil
	case ValueUint64:
		return le.Uint64(b), nil
	case ValueInt64:
		return int64(le.Uint64(b)), nil
	case ValueFloat64:
		return math.Float64frombits(le.Uint64(b)), nil
	case ValueBool:
		if b[0] > 1 {
			return nil, &FormatError{int64(d.off - 1), fmt.Sprintf("key %q: invalid bool byte %d", key, b[0])}
		}
		return b[0] == 1, nil
	}
	panic("unreachable")
}

// array decodes an array value (after its type tag) into a typed slice.
func (d *decoder) array(key string, depth int) (any, error) {
	if depth > maxArrayDepth {
		return nil, d.errf("key %q: arrays nested deeper than %d levels", key, maxArrayDepth)
	}
	start := d.off
	if d.remaining() < 12 {
		return nil, d.errf("array header of key %q needs 12 bytes, only %d remain", key, d.remaining())
	}
	et := binary.LittleEndian.Uint32(d.data[d.off:])
	n := binary.LittleEndian.Uint64(d.data[d.off+4:])
	d.off += 12
	vt := ValueType(et)
	var err error
	minSize := vt.size()
	switch vt {
	case ValueString:
		minSize = 8
	case ValueArray:
		minSize = 12
	}
	if minSize < 0 {
		return nil, &FormatError{int64(start), fmt.Sprintf("key %q: array has unknown element type %d", key, et)}
	}
	if n > uint64(d.remaining()/minSize) {
		return nil, &FormatError{int64(start + 4), fmt.Sprintf("key %q: array of %d %s elements exceeds the remaining %d bytes", key, n, vt, d.remaining())}
	}
	count := int(n)
	if sz := vt.size(); sz > 0 {
		b, _ := d.take(count*sz, nil) // the count was checked above
		return fixedArray(vt, b, count, d.off-count*sz, key)
	}
	if vt == ValueString {
		out := make([]string, count)
		for i := range out {
			var ok bool
			if out[i], ok = d.tryStr(); !ok {
				return nil, d.strErr(func() string { return fmt.Sprintf("element %d of key %q", i, key) })
			}
		}
		return out, nil
	}
	out := make([]any, count)
	// Each element of an array of arrays is itself an array body: element
	// type, length and values, with no further type tag.
	for i := range out {
		if out[i], err = d.array(key, depth+1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func fixedArray(vt ValueType, b []byte, n int, off int, key string) (any, error) {
	le := binary.LittleEndian
	switch vt {
	case ValueUint8:
		out := make([]uint8, n)
		copy(out, b)
		return out, nil
	case ValueInt8:
		out := make([]int8, n)
		for i := range out {
			out[i] = int8(b[i])
		}
		return out, nil
	case ValueBool:
		out := make([]bool, n)
		for i := range out {
			if b[i] > 1 {
				return nil, &FormatError{int64(off + i), fmt.Sprintf("key %q: invalid bool byte %d in element %d", key, b[i], i)}
			}
			out[i] = b[i] == 1
		}
		return out, nil
	case ValueUint16:
		out := make([]uint16, n)
		for i := range out {
			out[i] = le.Uint16(b[2*i:])
		}
		return out, nil
	case ValueInt16:
		out := make([]int16, n)
		for i := range out {
			out[i] = int16(le.Uint16(b[2*i:]))
		}
		return out, nil
	case ValueUint32:
		out := make([]uint32, n)
		for i := range out {
			out[i] = le.Uint32(b[4*i:])
		}
		return out, nil
	case ValueInt32:
		out := make([]int32, n)
		for i := range out {
			out[i] = int32(le.Uint32(b[4*i:]))
		}
		return out, nil
	case ValueFloat32:
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		}
		return out, nil
	case ValueUint64:
		out := make([]uint64, n)
		for i := range out {
			out[i] = le.Uint64(b[8*i:])
		}
		return out, nil
	case ValueInt64:
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(le.Uint64(b[8*i:]))
		}
		return out, nil
	case ValueFloat64:
		out := make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(le.Uint64(b[8*i:]))
		}
		return out, nil
	}
	panic("unreachable")
}
