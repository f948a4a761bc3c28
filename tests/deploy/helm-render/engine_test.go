package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChart makes a chart directory from name -> content.
func writeChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func renderOne(t *testing.T, template string, values string) (string, error) {
	t.Helper()
	dir := writeChart(t, map[string]string{
		"Chart.yaml":           "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\n",
		"values.yaml":          values,
		"files/a.conf":         "alpha\nbeta\n",
		"files/b.conf":         "gamma\n",
		"README.md":            "read me\n",
		"templates/_defs.tpl":  `{{- define "demo.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end }}`,
		"templates/out.yaml":   template,
		"templates/blank.yaml": "{{- if false }}x{{ end }}\n",
	})
	c, err := LoadChart(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(c, c.Values, Release{Name: "rel", Namespace: "ns"}, false)
	if err != nil {
		return "", err
	}
	if _, ok := out["demo/templates/blank.yaml"]; ok {
		t.Error("a template rendering only whitespace is kept")
	}
	if _, ok := out["demo/templates/_defs.tpl"]; ok {
		t.Error("a partial is rendered")
	}
	return out["demo/templates/out.yaml"], nil
}

func TestIncludeTplAndBuiltInObjects(t *testing.T) {
	got, err := renderOne(t,
		`{{ include "demo.name" . | upper }} {{ .Chart.AppVersion }} {{ .Release.Namespace }} `+
			`{{ .Release.Service }} {{ .Template.Name }} {{ .Template.BasePath }} `+
			`{{ tpl .Values.greeting . }} {{ .Values.missing }}|`,
		"greeting: \"hello {{ .Values.who }} from {{ include \\\"demo.name\\\" . }}\"\nwho: world\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "DEMO-REL 4.5 ns Helm demo/templates/out.yaml demo/templates " +
		"hello world from demo-rel |"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestToYamlAndNumbersAsHelmHasThem(t *testing.T) {
	got, err := renderOne(t, "{{ toYaml .Values.m | nindent 2 }}\n{{ .Values.big }} {{ .Values.big | int64 }}",
		"m:\n  b: [1, two]\n  a: {x: true}\nbig: 67108864\n")
	if err != nil {
		t.Fatal(err)
	}
	// Keys sorted; numbers through JSON are float64, so a large one prints
	// in exponent form unless converted (as in helm).
	want := "\n  a:\n    x: true\n  b:\n  - 1\n  - two\n6.7108864e+07 67108864"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRequiredAndFail(t *testing.T) {
	if got, err := renderOne(t, `{{ required "give x" .Values.x }}`, "x: set\n"); err != nil || got != "set" {
		t.Errorf("required with a value: %q, %v", got, err)
	}
	for _, values := range []string{"{}\n", "x: \"\"\n"} {
		_, err := renderOne(t, `{{ required "give x" .Values.x }}`, values)
		if err == nil || !strings.Contains(err.Error(), "give x") {
			t.Errorf("required without a value (%q): %v", values, err)
		}
	}
	_, err := renderOne(t, `{{ fail "stop here" }}`, "")
	if err == nil || !strings.Contains(err.Error(), "stop here") {
		t.Errorf("fail: %v", err)
	}
	if _, err := renderOne(t, `{{ env "HOME" }}`, ""); err == nil {
		t.Error("env is available (helm leaves it out)")
	}
}

func TestFiles(t *testing.T) {
	got, err := renderOne(t,
		`{{ .Files.Get "README.md" | trim }}|{{ index (.Files.Lines "files/a.conf") 1 }}|`+
			`{{ len (.Files.Glob "files/*.conf") }}|{{ (.Files.Glob "files/*").AsConfig }}|`+
			`{{ .Files.Get "Chart.yaml" }}{{ .Files.Get "templates/out.yaml" }}|`+
			`{{ (.Files.Glob "files/b.conf").AsSecrets }}`, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "read me|beta|2|a.conf: |\n  alpha\n  beta\nb.conf: |\n  gamma||b.conf: Z2FtbWEK"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestStrictRefusesUndefinedValues(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml":         "name: s\nversion: 1.0.0\n",
		"values.yaml":        "image:\n  tag: \"\"\n",
		"templates/out.yaml": `{{ .Values.image.tag | default "latest" }} {{ .Values.image.tga }}`,
	})
	c, err := LoadChart(dir)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := Render(c, c.Values, Release{Name: "r"}, false); err != nil ||
		out["s/templates/out.yaml"] != "latest " {
		t.Errorf("not strict: %q, %v", out, err)
	}
	if _, err := Render(c, c.Values, Release{Name: "r"}, true); err == nil ||
		!strings.Contains(err.Error(), `map has no entry for key "tga"`) {
		t.Errorf("strict: %v", err)
	}
}

func TestIncludeRecursionStops(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml":         "name: loop\nversion: 1.0.0\n",
		"values.yaml":        "",
		"templates/_a.tpl":   `{{- define "loop" }}{{ include "loop" . }}{{ end }}`,
		"templates/out.yaml": `{{ include "loop" . }}`,
	})
	c, err := LoadChart(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Render(c, c.Values, Release{Name: "r"}, false); err == nil ||
		!strings.Contains(err.Error(), "nested more than 1000 deep") {
		t.Errorf("got %v", err)
	}
}

func TestMergeValues(t *testing.T) {
	base := map[string]interface{}{
		"a": map[string]interface{}{"p": 1.0, "q": 2.0},
		"b": []interface{}{1.0}, "c": "keep", "d": "drop",
	}
	over := map[string]interface{}{
		"a": map[string]interface{}{"q": 3.0}, "b": []interface{}{2.0}, "d": nil,
	}
	got := MergeValues(base, over)
	if toYAML(got) != "a:\n  p: 1\n  q: 3\nb:\n- 2\nc: keep" {
		t.Errorf("got %q", toYAML(got))
	}
	if toYAML(base) != "a:\n  p: 1\n  q: 2\nb:\n- 1\nc: keep\nd: drop" {
		t.Errorf("the base changed: %q", toYAML(base))
	}
}

func TestLoadChartBadInput(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"no name":     {"Chart.yaml": "version: 1\n"},
		"unknown key": {"Chart.yaml": "name: x\nnmae: y\n"},
		"bad values":  {"Chart.yaml": "name: x\n", "values.yaml": "a: [1\n"},
		"subchart":    {"Chart.yaml": "name: x\n", "charts/y/Chart.yaml": "name: y\n"},
	} {
		if _, err := LoadChart(writeChart(t, files)); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	if _, err := LoadChart(t.TempDir()); err == nil {
		t.Error("a directory without Chart.yaml loaded")
	}
}

func TestSchema(t *testing.T) {
	schema := []byte(`{"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
		"additionalProperties": false,
		"properties": {"n": {"type": "integer", "minimum": 0}}}`)
	if p, err := ValidateValues(schema, map[string]interface{}{"n": 3.0}); err != nil || len(p) != 0 {
		t.Errorf("valid values: %v %v", p, err)
	}
	p, err := ValidateValues(schema, map[string]interface{}{"n": "3", "extra": 1.0})
	if err != nil || len(p) != 2 || !strings.Contains(p[0], "Additional property extra") ||
		!strings.Contains(p[1], "n: Invalid type. Expected: integer, given: string") {
		t.Errorf("got %q, %v", p, err)
	}
	if _, err := ValidateValues([]byte(`{"type": 5}`), map[string]interface{}{}); err == nil {
		t.Error("an invalid schema is accepted")
	}
}
