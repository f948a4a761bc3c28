// Loading a chart directory the way helm does: Chart.yaml, values.yaml,
// values.schema.json, templates/ and the other files (.Files), and merging
// value files over the chart's defaults.
package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ghodss/yaml"
)

// Chart is a chart directory's content.
type Chart struct {
	Dir       string
	Metadata  map[string]interface{} // Chart.yaml, helm's names (Name, AppVersion, ...)
	Values    map[string]interface{} // values.yaml
	Schema    []byte                 // values.schema.json; nil when absent
	Templates map[string]string      // "NAME/templates/FILE" -> text
	Files     Files                  // everything else, by path in the chart
}

// Chart.yaml keys as .Chart names them in templates.
var chartFields = map[string]string{
	"apiVersion": "APIVersion", "name": "Name", "version": "Version",
	"appVersion": "AppVersion", "description": "Description", "type": "Type",
	"kubeVersion": "KubeVersion", "keywords": "Keywords", "home": "Home",
	"sources": "Sources", "icon": "Icon", "deprecated": "Deprecated",
	"annotations": "Annotations", "maintainers": "Maintainers",
	"dependencies": "Dependencies",
}

// Files of a chart other than Chart.yaml, the values, the schema and
// templates/: what templates read through .Files.
var reservedFiles = map[string]bool{
	"Chart.yaml": true, "values.yaml": true, "values.schema.json": true,
	"Chart.lock": true, ".helmignore": true,
}

// readYAMLMap parses a YAML file as helm does (through JSON: numbers are
// float64); an empty file is an empty map.
func readYAMLMap(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if out == nil {
		out = map[string]interface{}{}
	}
	return out, nil
}

// LoadChart reads the chart in dir.
func LoadChart(dir string) (*Chart, error) {
	meta, err := readYAMLMap(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	c := &Chart{Dir: dir, Metadata: map[string]interface{}{},
		Templates: map[string]string{}, Files: Files{}}
	for key, value := range meta {
		field, ok := chartFields[key]
		if !ok {
			return nil, fmt.Errorf("%s/Chart.yaml: unknown key %q", dir, key)
		}
		c.Metadata[field] = value
	}
	name, _ := c.Metadata["Name"].(string)
	if name == "" {
		return nil, fmt.Errorf("%s/Chart.yaml: name is required", dir)
	}
	if c.Values, err = readYAMLMap(filepath.Join(dir, "values.yaml")); err != nil {
		return nil, err
	}
	schema, err := os.ReadFile(filepath.Join(dir, "values.schema.json"))
	if err == nil {
		c.Schema = schema
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.Templates[name+"/"+rel] = string(data)
		case strings.HasPrefix(rel, "charts/"):
			return fmt.Errorf("%s: subcharts are not supported", path)
		case !reservedFiles[rel]:
			c.Files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// TemplateNames are the chart's templates in helm's order (by name).
func (c *Chart) TemplateNames() []string {
	names := make([]string, 0, len(c.Templates))
	for n := range c.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MergeValues lays `over` onto `base` (a deep copy is returned): maps merge
// key by key, anything else replaces, and a null in `over` deletes the key
// (helm's coalescing of -f files over the chart's values).
func MergeValues(base, over map[string]interface{}) map[string]interface{} {
	out := deepCopyMap(base)
	for key, value := range over {
		if value == nil {
			delete(out, key)
			continue
		}
		overMap, overIsMap := value.(map[string]interface{})
		baseMap, baseIsMap := out[key].(map[string]interface{})
		if overIsMap && baseIsMap {
			out[key] = MergeValues(baseMap, overMap)
		} else {
			out[key] = deepCopyValue(value)
		}
	}
	return out
}

func deepCopyMap(m map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		return deepCopyMap(t)
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, e := range t {
			out[i] = deepCopyValue(e)
		}
		return out
	default:
		return v
	}
}
