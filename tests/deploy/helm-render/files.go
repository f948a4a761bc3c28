package main

import (
	"encoding/base64"
	"path"
	"sort"
	"strings"

	"github.com/ghodss/yaml"
)

// Files is .Files in a template: the chart's other files by their path in
// the chart, with helm's methods.
type Files map[string][]byte

// Get is the file's text; "" when there is none.
func (f Files) Get(name string) string { return string(f[name]) }

// GetBytes is the file's content; nil when there is none.
func (f Files) GetBytes(name string) []byte { return f[name] }

// Lines are the file's lines, without the line ends.
func (f Files) Lines(name string) []string {
	text := strings.TrimSuffix(string(f[name]), "\n")
	if text == "" {
		return []string{}
	}
	return strings.Split(text, "\n")
}

// Glob is the files whose path matches the pattern ('*' within a segment).
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := path.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

func (f Files) sortedNames() []string {
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// AsConfig is the files as a ConfigMap's data: base name -> text, in YAML.
func (f Files) AsConfig() string {
	m := map[string]string{}
	for _, n := range f.sortedNames() {
		m[path.Base(n)] = string(f[n])
	}
	return toYAML(m)
}

// AsSecrets is the files as a Secret's data: base name -> base64, in YAML.
func (f Files) AsSecrets() string {
	m := map[string]string{}
	for _, n := range f.sortedNames() {
		m[path.Base(n)] = base64.StdEncoding.EncodeToString(f[n])
	}
	return toYAML(m)
}

// toYAML is helm's toYaml: YAML through JSON (sigs.k8s.io/yaml, whose
// ancestor ghodss/yaml this is), without the final newline; "" on error.
func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}
