// helm-render renders a Helm chart as `helm template` does, with helm's
// engine (Go's text/template, the sprig functions, helm's include, tpl,
// required, toYaml, .Files, ...) and its values.schema.json check, strict
// as `helm lint --strict` (a reference to an undefined value fails), then
// checks what it rendered: every document parses as YAML and has the fields
// Kubernetes requires of its kind, with names and cross-references that
// agree; with --server, the config in the ConfigMap (the file the image's
// entrypoint reads, --config-path) is accepted by headroom-server's own
// parser (--check-config).
//
// Usage:
//
//	helm-render --chart DIR [-f VALUES]... [--release NAME]
//	    [--namespace NS] [--server PATH] [--output-dir DIR]
//
// Built offline from Debian's packaged Go sources (GO111MODULE=off
// GOPATH=/usr/share/gocode: golang-github-masterminds-sprig-dev,
// golang-github-ghodss-yaml-dev, golang-github-xeipuuv-gojsonschema-dev).
// Prints one line per object rendered; exit status 0 when everything
// passes, 1 with one line per problem, 2 on bad usage or unreadable input.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("helm-render", flag.ContinueOnError)
	chartDir := fs.String("chart", "", "the chart's directory")
	var values valueFiles
	fs.Var(&values, "f", "a values file (repeatable; later ones win)")
	release := fs.String("release", "headroom", "the release name")
	namespace := fs.String("namespace", "default", "the release namespace")
	server := fs.String("server", "", "headroom-server, to check the ConfigMap's config")
	configPath := fs.String("config-path", "/etc/headroom/config.yaml",
		"where the container reads its config")
	outDir := fs.String("output-dir", "", "write the rendered templates here")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *chartDir == "" || fs.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: helm-render --chart DIR [-f VALUES]... [--server PATH]")
		return 2
	}
	chart, err := LoadChart(*chartDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "helm-render: %v\n", err)
		return 2
	}
	merged := chart.Values
	for _, file := range values {
		over, err := readYAMLMap(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "helm-render: %v\n", err)
			return 2
		}
		merged = MergeValues(merged, over)
	}
	label := "default values"
	if len(values) > 0 {
		label = strings.Join(values, " ")
	}
	fail := func(problems []string) int {
		for _, p := range problems {
			fmt.Printf("helm-render: %s: %s\n", label, p)
		}
		return 1
	}

	problems, err := ValidateValues(chart.Schema, merged)
	if err != nil {
		fmt.Fprintf(os.Stderr, "helm-render: %v\n", err)
		return 2
	}
	if len(problems) > 0 {
		for i := range problems {
			problems[i] = "values don't meet the specifications of the schema: " + problems[i]
		}
		return fail(problems)
	}
	rendered, err := Render(chart, merged, Release{Name: *release, Namespace: *namespace}, true)
	if err != nil {
		return fail([]string{err.Error()})
	}
	if *outDir != "" {
		if err := writeRendered(*outDir, rendered); err != nil {
			fmt.Fprintf(os.Stderr, "helm-render: %v\n", err)
			return 2
		}
	}
	delete(rendered, chartNotes(chart)) // NOTES.txt is text, not a manifest
	objects, problems := ParseManifests(rendered)
	problems = append(problems, CheckManifests(objects)...)
	if len(problems) > 0 {
		return fail(problems)
	}
	for _, o := range objects {
		fmt.Printf("helm-render: %s: %s %s (%s)\n", label, o.Kind, o.Name, o.Source)
	}
	if *server != "" {
		out, err := CheckServerConfig(objects, *server, *configPath)
		if err != nil {
			return fail([]string{err.Error()})
		}
		fmt.Printf("helm-render: %s: headroom-server --check-config: %s\n", label, out)
	}
	return 0
}

func chartNotes(c *Chart) string {
	name, _ := c.Metadata["Name"].(string)
	return name + "/templates/NOTES.txt"
}

// writeRendered lays the outputs out as `helm template --output-dir` does.
func writeRendered(dir string, rendered map[string]string) error {
	names := make([]string, 0, len(rendered))
	for n := range rendered {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		path := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(rendered[n]), 0o644); err != nil {
			return err
		}
	}
	return nil
}
