// The template engine as helm's: Go's text/template with the sprig functions
// (less env and expandenv, which helm leaves out) and helm's own include,
// tpl, required, fail, toYaml, fromYaml, toJson, fromJson and lookup.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig"
	"github.com/ghodss/yaml"
)

// Helm stops runaway recursion of include at this depth.
const maxIncludeDepth = 1000

// Release is .Release: what `helm template NAME --namespace NS` gives.
type Release struct {
	Name      string
	Namespace string
}

// funcMap is the functions of templates parsed into `t`; include and tpl
// execute templates of `t`.
func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	depth := 0
	f["include"] = func(name string, data interface{}) (string, error) {
		if depth >= maxIncludeDepth {
			return "", fmt.Errorf("include %q: nested more than %d deep", name, maxIncludeDepth)
		}
		depth++
		defer func() { depth-- }()
		var out strings.Builder
		if err := t.ExecuteTemplate(&out, name, data); err != nil {
			return "", err
		}
		return out.String(), nil
	}
	f["tpl"] = func(text string, data interface{}) (string, error) {
		// A copy of the template set, so that `define`s in text stay there;
		// its include runs templates of the copy.
		c, err := t.Clone()
		if err != nil {
			return "", err
		}
		c.Funcs(funcMap(c))
		if _, err := c.New("tpl").Parse(text); err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		var out strings.Builder
		if err := c.ExecuteTemplate(&out, "tpl", data); err != nil {
			return "", fmt.Errorf("tpl: %v", err)
		}
		return strings.ReplaceAll(out.String(), "<no value>", ""), nil
	}
	f["required"] = func(message string, value interface{}) (interface{}, error) {
		if s, ok := value.(string); value == nil || (ok && s == "") {
			return value, errors.New(message)
		}
		return value, nil
	}
	f["fail"] = func(message string) (string, error) { return "", errors.New(message) }
	f["toYaml"] = toYAML
	f["fromYaml"] = func(text string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := yaml.Unmarshal([]byte(text), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	f["toJson"] = func(v interface{}) string {
		data, err := json.Marshal(v)
		if err != nil {
			return ""
		}
		return string(data)
	}
	f["fromJson"] = func(text string) map[string]interface{} {
		m := map[string]interface{}{}
		if err := json.Unmarshal([]byte(text), &m); err != nil {
			m["Error"] = err.Error()
		}
		return m
	}
	// `helm template` has no cluster to look objects up in.
	f["lookup"] = func(apiVersion, kind, namespace, name string) map[string]interface{} {
		return map[string]interface{}{}
	}
	return f
}

// Render executes every template of the chart that is not a partial
// (a name starting with '_') with `values`; the result maps template name
// to its output, templates whose output is only whitespace left out
// (NOTES.txt is among them, as helm's notes). Strict, as `helm lint
// --strict`: a reference to a key that the values (or .Chart, .Release...)
// lack is an error instead of an empty value.
func Render(c *Chart, values map[string]interface{}, release Release, strict bool) (map[string]string, error) {
	root := template.New("chart")
	if strict {
		root.Option("missingkey=error")
	} else {
		root.Option("missingkey=zero")
	}
	root.Funcs(funcMap(root))
	names := c.TemplateNames()
	for _, name := range names {
		if _, err := root.New(name).Parse(c.Templates[name]); err != nil {
			return nil, err
		}
	}
	chartName, _ := c.Metadata["Name"].(string)
	out := map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		data := map[string]interface{}{
			"Values": values,
			"Chart":  c.Metadata,
			"Files":  c.Files,
			"Release": map[string]interface{}{
				"Name": release.Name, "Namespace": release.Namespace,
				"Service": "Helm", "IsInstall": true, "IsUpgrade": false,
				"Revision": 1,
			},
			"Capabilities": map[string]interface{}{
				"KubeVersion": map[string]interface{}{
					"Version": "v1.30.0", "Major": "1", "Minor": "30"},
			},
			"Template": map[string]interface{}{
				"Name": name, "BasePath": chartName + "/templates"},
		}
		var text strings.Builder
		if err := root.ExecuteTemplate(&text, name, data); err != nil {
			return nil, err
		}
		rendered := strings.ReplaceAll(text.String(), "<no value>", "")
		if strings.TrimSpace(rendered) != "" {
			out[name] = rendered
		}
	}
	return out, nil
}
