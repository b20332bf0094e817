package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
)

// A scenario file is YAML whose keys are the flags' names and whose
// values are what the flag would take, e.g.
//
//	scenario: conference
//	rooms: 4
//	participants: 5
//	video-kbps: 800
//	duration: 30s
//	find-limit: true
//	limit-step: 1
//
// Flags given on the command line win over the file. Unknown keys are an
// error naming the key, so a typo does not silently run the default.

// maxConfigBytes bounds a scenario file.
const maxConfigBytes = 1 << 20

// notInFile are flags that make no sense in a scenario file.
var notInFile = []string{"config"}

// ErrConfigFile wraps every reason a scenario file is refused.
var ErrConfigFile = errors.New("scenario file")

// applyConfigFile sets every flag of f named in the YAML file at path
// that was not given on the command line.
func applyConfigFile(f *flag.FlagSet, path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfigFile, err)
	}
	defer fh.Close()
	raw, err := io.ReadAll(io.LimitReader(fh, maxConfigBytes+1))
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrConfigFile, path, err)
	}
	if len(raw) > maxConfigBytes {
		return fmt.Errorf("%w %s: larger than %d bytes", ErrConfigFile, path, maxConfigBytes)
	}
	return applyConfig(f, path, raw)
}

func applyConfig(f *flag.FlagSet, path string, raw []byte) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrConfigFile, path, fmt.Sprintf(format, args...))
	}
	var fields map[string]any
	if err := yaml.Unmarshal(raw, &fields); err != nil {
		return fail("%v", err)
	}
	given := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if f.Lookup(k) == nil || slices.Contains(notInFile, k) {
			return fail("unknown field %q (the fields are the flags' names: %s)", k, strings.Join(fileFields(f), ", "))
		}
		v, err := scalar(fields[k])
		if err != nil {
			return fail("field %q: %v", k, err)
		}
		if given[k] {
			continue
		}
		if err := f.Set(k, v); err != nil {
			return fail("field %q: %v", k, err)
		}
	}
	return nil
}

// scalar is a YAML value as a flag would read it.
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", errors.New("no value")
	case string:
		return x, nil
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("want a single value, got %T", v)
}

func fileFields(f *flag.FlagSet) []string {
	var names []string
	f.VisitAll(func(fl *flag.Flag) {
		if !slices.Contains(notInFile, fl.Name) {
			names = append(names, fl.Name)
		}
	})
	return names
}
