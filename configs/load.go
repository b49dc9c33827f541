package configs

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// EnvPrefix starts every environment variable the config reads:
// FOMO_API_LISTEN sets api.listen.
const EnvPrefix = "FOMO_"

// envIgnored are FOMO_ variables that are not config keys.
// FOMO_API names the node the client commands ask.
var envIgnored = []string{"FOMO_HOME", "FOMO_API"}

// Sources names the layers applied on top of the defaults, in order.
type Sources struct {
	// File is a TOML file; empty skips it.
	File string
	// Env is the process environment as KEY=VALUE pairs (os.Environ()).
	Env []string
	// Set holds key=value overrides from flags (--set api.listen=…).
	Set []string
}

// Load builds the effective config: defaults, then the file, then FOMO_*
// environment variables, then flag overrides, then Validate. Every error
// names the key (and the file) it is about.
func Load(src Sources) (Config, error) {
	cfg := Default()
	if src.File != "" {
		b, err := os.ReadFile(src.File)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := decodeStrict(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", src.File, err)
		}
	}
	if err := applyEnv(&cfg, src.Env); err != nil {
		return cfg, err
	}
	for _, kv := range src.Set {
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return cfg, fmt.Errorf("flag --set %q: want key=value", kv)
		}
		if err := SetKey(&cfg, strings.TrimSpace(key), val); err != nil {
			return cfg, fmt.Errorf("flag --set: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		if src.File != "" {
			return cfg, fmt.Errorf("config %s: %w", src.File, err)
		}
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// Decode parses a TOML document strictly over the defaults, without the
// environment or validation.
func Decode(b []byte) (Config, error) {
	cfg := Default()
	err := decodeStrict(b, &cfg)
	return cfg, err
}

func decodeStrict(b []byte, cfg *Config) error {
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			if perr.LastKey != "" {
				return fmt.Errorf("line %d: %s: %s", perr.Position.Line, perr.LastKey, perr.Message)
			}
			return fmt.Errorf("line %d: %s", perr.Position.Line, perr.Message)
		}
		return err
	}
	if und := md.Undecoded(); len(und) > 0 {
		var errs []error
		known := Keys()
		for _, k := range und {
			key := k.String()
			msg := "unknown key"
			if s := closest(key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			errs = append(errs, &FieldError{Key: key, Msg: msg})
		}
		return errors.Join(errs...)
	}
	return nil
}

// Keys lists every settable key of the schema in dotted form, array-of-table
// fields as "runtime.<field>".
func Keys() []string {
	var out []string
	walkType(reflect.TypeOf(Config{}), "", func(key string, _ reflect.Type) { out = append(out, key) })
	return out
}

func walkType(t reflect.Type, prefix string, fn func(key string, t reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && !isLeaf(ft):
			walkType(ft, key, fn)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			walkType(ft.Elem(), key, fn)
		default:
			fn(key, ft)
		}
	}
}

func isLeaf(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]())
}

// EnvName returns the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func applyEnv(cfg *Config, env []string) error {
	byEnv := map[string]string{}
	walkType(reflect.TypeOf(Config{}), "", func(key string, _ reflect.Type) {
		if !strings.HasPrefix(key, "runtime.") {
			byEnv[EnvName(key)] = key
		}
	})
	var errs []error
	for _, kv := range env {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || slices.Contains(envIgnored, name) {
			continue
		}
		key, ok := byEnv[name]
		if !ok {
			errs = append(errs, fmt.Errorf("environment %s: unknown config key (runtimes are configured in the file)", name))
			continue
		}
		if err := SetKey(cfg, key, val); err != nil {
			errs = append(errs, fmt.Errorf("environment %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// SetKey sets one dotted key (e.g. "api.listen") from its text form. Lists
// are comma-separated; durations and byte sizes use their TOML string forms.
func SetKey(cfg *Config, key, val string) error {
	v := reflect.ValueOf(cfg).Elem()
	parts := strings.Split(key, ".")
	for i, p := range parts {
		f, ok := fieldByTag(v, p)
		if !ok {
			msg := "unknown key"
			if s := closest(key, Keys()); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return &FieldError{Key: key, Msg: msg}
		}
		if i < len(parts)-1 {
			if f.Kind() != reflect.Struct || isLeaf(f.Type()) {
				return &FieldError{Key: key, Msg: "unknown key"}
			}
			v = f
			continue
		}
		if err := setValue(f, val); err != nil {
			return &FieldError{Key: key, Msg: err.Error()}
		}
		return nil
	}
	return &FieldError{Key: key, Msg: "unknown key"}
}

func fieldByTag(v reflect.Value, tag string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") == tag {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func setValue(f reflect.Value, val string) error {
	if tu, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return tu.UnmarshalText([]byte(val))
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(val)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", val)
		}
		f.SetBool(b)
	case reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil {
			return fmt.Errorf("must be an integer, got %q", val)
		}
		f.SetInt(int64(n))
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from text")
		}
		var items []string
		for s := range strings.SplitSeq(val, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		f.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot be set from text")
	}
	return nil
}

// closest returns the known key nearest to key by edit distance, if near.
func closest(key string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Encode writes cfg as TOML (the effective config, for `fomo config show`).
func Encode(cfg Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(cfg); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
